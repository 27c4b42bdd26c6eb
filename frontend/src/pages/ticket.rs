//! The order ticket: symbol picker, side, quantity or amount, type, prices,
//! time in force; a review step before anything is sent, and on a live
//! account a second, explicit confirmation.

use std::collections::BTreeMap;

use leptos::prelude::*;
use trader_api_types::broker::{
    CreateOrderRequest, Environment, OrderKind, OrderSide, TimeInForce, TradingAccount,
};

use crate::api;
use crate::components::{Fields, Loading, Note, TextField, money, show_error};
use crate::live::Live;

fn kind_of(s: &str) -> OrderKind {
    match s {
        "limit" => OrderKind::Limit,
        "stop" => OrderKind::Stop,
        "stop_limit" => OrderKind::StopLimit,
        _ => OrderKind::Market,
    }
}

fn tif_of(s: &str) -> TimeInForce {
    match s {
        "gtc" => TimeInForce::Gtc,
        "opg" => TimeInForce::Opg,
        "cls" => TimeInForce::Cls,
        "ioc" => TimeInForce::Ioc,
        "fok" => TimeInForce::Fok,
        _ => TimeInForce::Day,
    }
}

fn some(s: String) -> Option<String> {
    let s = s.trim().to_owned();
    (!s.is_empty()).then_some(s)
}

/// The `/trade` page: the ticket for the active account.
#[component]
pub(crate) fn TradePage() -> impl IntoView {
    let accounts = crate::app::accounts_resource();
    let query = leptos_router::hooks::use_query_map();
    let symbol = move || query.with(|q| q.get("symbol").unwrap_or_default());
    view! {
        <h1>"Place an order"</h1>
        <Transition fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                let list = accounts.await;
                let active = list.as_ref().ok().and_then(|l| l.accounts.iter().find(|a| a.active).cloned());
                match active {
                    None => view! {
                        <section class="card"><p class="empty">"No active trading account. "
                            <a href="/accounts">"Add or activate one"</a> " first."</p></section>
                    }.into_any(),
                    Some(account) => view! {
                        <section class="card"><OrderTicket account=account symbol=symbol() /></section>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
pub(crate) fn OrderTicket(account: TradingAccount, symbol: String) -> impl IntoView {
    let live = expect_context::<Live>();
    let is_live = account.environment == Environment::Live;
    let account_id = account.id;
    let account_name = StoredValue::new(account.name.clone());
    let symbol = RwSignal::new(symbol);
    let side = RwSignal::new("buy".to_owned());
    let by = RwSignal::new("qty".to_owned());
    let amount = RwSignal::new(String::new());
    let kind = RwSignal::new("market".to_owned());
    let limit = RwSignal::new(String::new());
    let stop = RwSignal::new(String::new());
    let tif = RwSignal::new("day".to_owned());
    let reviewing = RwSignal::new(false);
    // The order as reviewed: what the summary shows and exactly what
    // "Place order" sends, whatever the fields say by then.
    let reviewed = RwSignal::new(None::<CreateOrderRequest>);
    // The client_order_id of the last order tried and what it was: the
    // same order tried again (after an error, when it may have reached the
    // broker) keeps its id, so the server never places it twice.
    let last_try = StoredValue::new(None::<(String, String)>);
    let live_ok = RwSignal::new(false);
    let note = RwSignal::new(None::<String>);
    let done = RwSignal::new(None::<String>);
    let fields: Fields = RwSignal::new(BTreeMap::new());

    // The symbol picker: assets whose symbol or name starts with what was
    // typed.
    let search = RwSignal::new(String::new());
    let assets = LocalResource::new(move || {
        let q = search.get();
        async move {
            if q.is_empty() {
                return Vec::new();
            }
            api::search_assets(&q)
                .await
                .map(|l| l.assets)
                .unwrap_or_default()
        }
    });
    Effect::new(move |_| {
        let s = symbol.get().trim().to_owned();
        if search.get_untracked() != s {
            search.set(s);
        }
    });
    let picked_name = move || {
        let s = symbol.get().trim().to_uppercase();
        assets
            .get()
            .and_then(|list| list.iter().find(|a| a.symbol == s).map(|a| a.name.clone()))
    };

    let request = move || {
        let order_type = kind_of(&kind.get_untracked());
        let amount = some(amount.get_untracked());
        let by_qty = by.get_untracked() == "qty";
        CreateOrderRequest {
            symbol: symbol.get_untracked().trim().to_uppercase(),
            side: if side.get_untracked() == "sell" {
                OrderSide::Sell
            } else {
                OrderSide::Buy
            },
            order_type,
            time_in_force: tif_of(&tif.get_untracked()),
            qty: if by_qty { amount.clone() } else { None },
            notional: if by_qty { None } else { amount },
            limit_price: matches!(order_type, OrderKind::Limit | OrderKind::StopLimit)
                .then(|| some(limit.get_untracked()))
                .flatten(),
            stop_price: matches!(order_type, OrderKind::Stop | OrderKind::StopLimit)
                .then(|| some(stop.get_untracked()))
                .flatten(),
            extended_hours: false,
            client_order_id: None,
            confirm: is_live && live_ok.get_untracked(),
        }
    };

    // Checks what can be checked here before the review.
    let review = move || {
        let mut problems = BTreeMap::new();
        let req = request();
        let sym_ok = req
            .symbol
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_uppercase())
            && req.symbol.len() <= 10
            && req
                .symbol
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '.');
        if !sym_ok {
            problems.insert("symbol".to_owned(), "choose a symbol, e.g. AAPL".to_owned());
        }
        let positive = |s: &Option<String>| {
            s.as_deref()
                .and_then(|v| v.parse::<f64>().ok())
                .is_some_and(|v| v > 0.0)
        };
        let amount_field = if req.qty.is_some() || by.get_untracked() == "qty" {
            "qty"
        } else {
            "notional"
        };
        if !positive(&req.qty) && !positive(&req.notional) {
            problems.insert(
                amount_field.to_owned(),
                "enter a positive number".to_owned(),
            );
        }
        if matches!(req.order_type, OrderKind::Limit | OrderKind::StopLimit)
            && !positive(&req.limit_price)
        {
            problems.insert("limit_price".to_owned(), "enter the limit price".to_owned());
        }
        if matches!(req.order_type, OrderKind::Stop | OrderKind::StopLimit)
            && !positive(&req.stop_price)
        {
            problems.insert("stop_price".to_owned(), "enter the stop price".to_owned());
        }
        let ok = problems.is_empty();
        fields.set(problems);
        if ok {
            let mut req = req;
            let key = serde_json::to_string(&req).unwrap_or_default();
            let coid = match last_try.get_value() {
                Some((k, id)) if k == key => id,
                _ => new_client_order_id(),
            };
            last_try.set_value(Some((key, coid.clone())));
            req.client_order_id = Some(coid);
            reviewed.set(Some(req));
            // Each review asks for its own live confirmation.
            live_ok.set(false);
            note.set(None);
            reviewing.set(true);
        } else {
            note.set(Some("Check the highlighted fields.".to_owned()));
        }
    };

    let place = Action::new_local(move |_: &()| {
        let req = reviewed.get_untracked().map(|mut r| {
            r.confirm = is_live && live_ok.get_untracked();
            r
        });
        async move {
            let Some(req) = req else {
                reviewing.set(false);
                return;
            };
            match api::create_order(&req, account_id).await {
                Ok(o) => {
                    reviewing.set(false);
                    reviewed.set(None);
                    last_try.set_value(None);
                    live_ok.set(false);
                    amount.set(String::new());
                    fields.set(BTreeMap::new());
                    note.set(None);
                    done.set(Some(format!(
                        "Order sent: {} {} {}, {}.",
                        o.side,
                        o.qty.as_deref().map_or_else(
                            || money(o.notional.as_deref().unwrap_or("")),
                            str::to_owned
                        ),
                        o.symbol,
                        o.status.replace('_', " ")
                    )));
                    live.broker.update(|n| *n += 1);
                }
                Err(e) => {
                    reviewing.set(false);
                    live_ok.set(false);
                    show_error(&e, note, Some(fields));
                }
            }
        }
    });

    let summary = move || {
        let Some(r) = reviewed.get() else {
            return String::new();
        };
        let amount = match (&r.qty, &r.notional) {
            (Some(q), _) => format!("{q} shares of"),
            (None, Some(n)) => format!("{} of", money(n)),
            _ => String::new(),
        };
        let price = match (&r.limit_price, &r.stop_price) {
            (Some(l), Some(s)) => format!(" at a stop of {} and a limit of {}", money(s), money(l)),
            (Some(l), None) => format!(" at a limit of {}", money(l)),
            (None, Some(s)) => format!(" at a stop of {}", money(s)),
            _ => " at the market price".to_owned(),
        };
        format!(
            "{} {amount} {}{price}, good for {}, on {}.",
            if r.side == OrderSide::Buy {
                "Buy"
            } else {
                "Sell"
            },
            r.symbol,
            format!("{:?}", r.time_in_force).to_uppercase(),
            account_name.get_value()
        )
    };

    view! {
        <form class="stack ticket" aria-label="Order ticket" on:submit=move |ev| {
            ev.prevent_default();
            done.set(None);
            review();
        }>
            <div class="grid-2">
                <div class="field">
                    <label for="ticket-symbol">"Symbol"</label>
                    <input id="ticket-symbol" name="symbol" list="ticket-assets" autocomplete="off"
                        autocapitalize="characters" required=true
                        aria-invalid=move || fields.with(|f| f.contains_key("symbol")).to_string()
                        aria-describedby="ticket-symbol-error ticket-symbol-name"
                        bind:value=symbol />
                    <datalist id="ticket-assets">
                        {move || assets.get().map(|list| list.iter().take(20).map(|a| view! {
                            <option value=a.symbol.clone()>{a.name.clone()}</option>
                        }).collect_view())}
                    </datalist>
                    <p class="hint" id="ticket-symbol-name" data-testid="ticket-asset-name">{picked_name}</p>
                    <p class="field-error" id="ticket-symbol-error">{move || fields.with(|f| f.get("symbol").cloned())}</p>
                </div>
                <div class="field">
                    <label for="ticket-side">"Side"</label>
                    <select id="ticket-side" bind:value=side>
                        <option value="buy">"Buy"</option>
                        <option value="sell">"Sell"</option>
                    </select>
                </div>
                <div class="field">
                    <label for="ticket-by">"Amount in"</label>
                    <select id="ticket-by" bind:value=by>
                        <option value="qty">"Shares (quantity)"</option>
                        <option value="notional">"Dollars (notional)"</option>
                    </select>
                </div>
                {move || if by.get() == "qty" {
                    view! { <TextField id="ticket-qty" label="Quantity" name="qty" value=amount fields=fields inputmode="decimal" /> }.into_any()
                } else {
                    view! { <TextField id="ticket-notional" label="Amount in dollars" name="notional" value=amount fields=fields inputmode="decimal" /> }.into_any()
                }}
                <div class="field">
                    <label for="ticket-type">"Order type"</label>
                    <select id="ticket-type" bind:value=kind>
                        <option value="market">"Market"</option>
                        <option value="limit">"Limit"</option>
                        <option value="stop">"Stop"</option>
                        <option value="stop_limit">"Stop limit"</option>
                    </select>
                </div>
                <Show when=move || matches!(kind.get().as_str(), "limit" | "stop_limit")>
                    <TextField id="ticket-limit" label="Limit price" name="limit_price" value=limit fields=fields inputmode="decimal" />
                </Show>
                <Show when=move || matches!(kind.get().as_str(), "stop" | "stop_limit")>
                    <TextField id="ticket-stop" label="Stop price" name="stop_price" value=stop fields=fields inputmode="decimal" />
                </Show>
                <div class="field">
                    <label for="ticket-tif">"Time in force"</label>
                    <select id="ticket-tif" bind:value=tif>
                        <option value="day">"Day"</option>
                        <option value="gtc">"Good till cancelled"</option>
                        <option value="opg">"At the open"</option>
                        <option value="cls">"At the close"</option>
                        <option value="ioc">"Immediate or cancel"</option>
                        <option value="fok">"Fill or kill"</option>
                    </select>
                </div>
            </div>
            <Note note=note />
            <Show when=move || !reviewing.get()>
                <button type="submit">"Review order"</button>
            </Show>
        </form>
        <Show when=move || reviewing.get()>
            <div class="review card" role="region" aria-label="Review the order" data-testid="order-review">
                <h3>"Review"</h3>
                <p>{summary}</p>
                {is_live.then(|| view! {
                    <p class="note warn">"This is a LIVE account: the order uses real money."</p>
                    <div class="field check">
                        <input id="ticket-live-ok" type="checkbox" bind:checked=live_ok />
                        <label for="ticket-live-ok">"Yes, place this order with real money"</label>
                    </div>
                })}
                <div class="row">
                    <button type="button" disabled=move || place.pending().get() || (is_live && !live_ok.get())
                        on:click=move |_| { place.dispatch(()); }>"Place order"</button>
                    <button type="button" class="secondary" on:click=move |_| {
                        live_ok.set(false);
                        reviewing.set(false);
                    }>"Edit"</button>
                </div>
            </div>
        </Show>
        {move || done.get().map(|d| view! { <p class="note ok" role="status" data-testid="order-sent">{d}</p> })}
    }
}

/// A fresh client_order_id for an order placed from this page (Alpaca
/// allows 48 characters): `ui-` and 24 random hex digits. Uniqueness is
/// what matters here, not secrecy.
fn new_client_order_id() -> String {
    let mut id = String::from("ui-");
    for _ in 0..3 {
        let n = (js_sys::Math::random() * f64::from(u32::MAX)) as u32;
        id.push_str(&format!("{n:08x}"));
    }
    id
}
