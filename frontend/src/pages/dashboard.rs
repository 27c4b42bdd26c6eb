//! `/`: the active trading account at a glance (account card, equity
//! curve, positions, open and recent orders, fills), the account switcher,
//! and the order ticket. Refreshes itself on live events (or by polling).

use leptos::prelude::*;
use trader_api_types::ErrorCode;
use trader_api_types::broker::{Environment, Fill, Order, Position, TradingAccount};

use crate::api::{self, ApiError};
use crate::chart::EquityChart;
use crate::components::{
    ConfirmButton, Loading, Note, money, money_opt, pl_class, qty, show_error, signed_money,
    signed_pct, when, when_opt,
};
use crate::live::Live;
use crate::pages::ticket::OrderTicket;

/// The account switcher: every trading account, the active one selected;
/// choosing another activates it.
#[component]
pub(crate) fn AccountSwitcher(accounts: Vec<TradingAccount>) -> impl IntoView {
    let live = expect_context::<Live>();
    let note = RwSignal::new(None::<String>);
    let active = accounts
        .iter()
        .find(|a| a.active)
        .map(|a| a.id.to_string())
        .unwrap_or_default();
    let activate = Action::new_local(move |id: &i64| {
        let id = *id;
        async move {
            match api::activate_account(id).await {
                Ok(_) => {
                    note.set(None);
                    crate::app::accounts_changed();
                    live.broker.update(|n| *n += 1);
                }
                Err(e) => show_error(&e, note, None),
            }
        }
    });
    view! {
        <div class="field switcher">
            <label for="account-switcher">"Account"</label>
            <select id="account-switcher" prop:value=active
                on:change=move |ev| {
                    if let Ok(id) = event_target_value(&ev).parse::<i64>() {
                        activate.dispatch(id);
                    }
                }>
                {accounts.into_iter().map(|a| {
                    let label = format!("{} ({})", a.name, a.environment.as_str());
                    view! { <option value=a.id.to_string() selected=a.active>{label}</option> }
                }).collect_view()}
            </select>
            <Note note=note />
        </div>
    }
}

#[component]
pub(crate) fn Dashboard() -> impl IntoView {
    let accounts = crate::app::accounts_resource();
    view! {
        <div class="page-head">
            <h1>"Dashboard"</h1>
            <LiveBadge />
        </div>
        <Transition fallback=|| view! { <Loading /> }>
            {move || Suspend::new(async move {
                match accounts.await {
                    Err(e) => view! { <p class="note error" role="alert">{e.friendly()}</p> }.into_any(),
                    Ok(list) if list.accounts.is_empty() => view! {
                        <section class="card">
                            <h2>"No trading account yet"</h2>
                            <p class="empty">"Add an Alpaca account (paper or live), or a simulator account in demo mode, to see your money here."</p>
                            <p><a class="button" href="/accounts">"Add a trading account"</a></p>
                        </section>
                    }.into_any(),
                    Ok(list) => {
                        let active = list.accounts.iter().find(|a| a.active).cloned();
                        view! {
                            <AccountSwitcher accounts=list.accounts />
                            {match active {
                                None => view! { <p class="note warn">"No account is active: choose one above."</p> }.into_any(),
                                Some(active) => view! { <Overview active=active /> }.into_any(),
                            }}
                        }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

/// Whether updates arrive by the stream or by polling.
#[component]
pub(crate) fn LiveBadge() -> impl IntoView {
    let live = expect_context::<Live>();
    view! {
        <span class="badge" data-testid="live-state" role="status">
            {move || if live.streaming.get() { "Live" } else { "Updating every 5 s" }}
        </span>
    }
}

fn broker_error(e: &ApiError) -> AnyView {
    let text = if e.is(ErrorCode::NoActiveAccount) {
        "No account is active: choose one above.".to_owned()
    } else {
        e.friendly()
    };
    view! { <p class="note error" role="alert">{text}</p> }.into_any()
}

#[component]
fn Overview(active: TradingAccount) -> impl IntoView {
    let environment = active.environment;
    let live = expect_context::<Live>();
    let account = LocalResource::new(move || {
        live.broker.track();
        api::broker_account()
    });
    view! {
        <section class="card" aria-labelledby="acct-title">
            <h2 id="acct-title">"Account"
                {(environment == Environment::Live).then(|| view! { <span class="badge live">"LIVE: real money"</span> })}
            </h2>
            <Transition fallback=|| view! { <Loading /> }>
                {move || Suspend::new(async move {
                    match account.await {
                        Err(e) => broker_error(&e),
                        Ok(a) => {
                            let day_class = pl_class(Some(&a.day_pl));
                            let pct = a.day_pl_pct.as_deref().and_then(|p| p.parse::<f64>().ok());
                            view! {
                                <dl class="stats" data-testid="account-card">
                                    <div><dt>"Equity"</dt><dd>{money(&a.equity)}</dd></div>
                                    <div><dt>"Cash"</dt><dd>{money(&a.cash)}</dd></div>
                                    <div><dt>"Buying power"</dt><dd>{money(&a.buying_power)}</dd></div>
                                    <div><dt>"Day P&L"</dt>
                                        <dd class=day_class data-testid="day-pl">{signed_money(Some(&a.day_pl))} " (" {signed_pct(pct)} ")"</dd></div>
                                </dl>
                                {(a.trading_blocked || a.account_blocked).then(|| view! {
                                    <p class="note warn">"The broker has blocked trading on this account."</p>
                                })}
                            }.into_any()
                        }
                    }
                })}
            </Transition>
        </section>
        <EquityCurve />
        <Positions live_account={environment == Environment::Live} />
        <Orders />
        <Fills />
        <section class="card" aria-labelledby="ticket-title">
            <h2 id="ticket-title">"Place an order"</h2>
            <OrderTicket account=active symbol=String::new() />
        </section>
    }
}

const PERIODS: [&str; 6] = ["1D", "1W", "1M", "3M", "6M", "1A"];

#[component]
fn EquityCurve() -> impl IntoView {
    let period = RwSignal::new("1M");
    let history = LocalResource::new(move || api::portfolio_history(period.get()));
    view! {
        <section class="card" aria-labelledby="equity-title">
            <div class="card-head">
                <h2 id="equity-title">"Equity"</h2>
                <div class="segmented" role="group" aria-label="Period">
                    {PERIODS.into_iter().map(|p| view! {
                        <button type="button" class="secondary" aria-pressed=move || (period.get() == p).to_string()
                            on:click=move |_| period.set(p)>{p}</button>
                    }).collect_view()}
                </div>
            </div>
            <Transition fallback=|| view! { <Loading /> }>
                {move || Suspend::new(async move {
                    match history.await {
                        Err(e) => broker_error(&e),
                        Ok(h) if h.equity.iter().all(Option::is_none) => {
                            view! { <p class="empty">"No equity history for this period yet."</p> }.into_any()
                        }
                        Ok(h) => view! { <EquityChart history=h /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn Positions(live_account: bool) -> impl IntoView {
    let live = expect_context::<Live>();
    let note = RwSignal::new(None::<String>);
    let positions = LocalResource::new(move || {
        live.broker.track();
        api::list_positions()
    });
    let close = Action::new_local(move |symbol: &String| {
        let symbol = symbol.clone();
        async move {
            match api::close_position(&symbol).await {
                Ok(o) => note.set(Some(format!("Closing {}: order {}.", o.symbol, o.status))),
                Err(e) => show_error(&e, note, None),
            }
            live.broker.update(|n| *n += 1);
        }
    });
    let close_all = Action::new_local(move |_: &()| async move {
        match api::close_all_positions(live_account).await {
            Ok(r) => note.set(Some(format!("Closing {} position(s).", r.positions.len()))),
            Err(e) => show_error(&e, note, None),
        }
        live.broker.update(|n| *n += 1);
    });
    let row = move |p: Position| {
        let symbol = p.symbol.clone();
        let cls = pl_class(p.unrealized_pl.as_deref());
        let pct = p
            .unrealized_plpc
            .as_deref()
            .and_then(|v| v.parse::<f64>().ok())
            .map(|v| v * 100.0);
        view! {
            <tr>
                <th scope="row"><a href=format!("/signals/{}", p.symbol)>{p.symbol.clone()}</a></th>
                <td class="num">{qty(&p.qty)}</td>
                <td>{p.side.clone()}</td>
                <td class="num">{money(&p.avg_entry_price)}</td>
                <td class="num">{money_opt(p.current_price.as_deref())}</td>
                <td class="num">{money_opt(p.market_value.as_deref())}</td>
                <td class=format!("num {cls}")>{signed_money(p.unrealized_pl.as_deref())}</td>
                <td class=format!("num {cls}")>{signed_pct(pct)}</td>
                <td class="actions">
                    <ConfirmButton label="Close" confirm="Really close?" what=symbol.clone()
                        on_confirm=move || { close.dispatch(symbol.clone()); } />
                </td>
            </tr>
        }
    };
    view! {
        <section class="card" aria-labelledby="pos-title">
            <div class="card-head">
                <h2 id="pos-title">"Positions"</h2>
                <ConfirmButton label="Close all" confirm="Really close all?" what="every position"
                    on_confirm=move || { close_all.dispatch(()); } />
            </div>
            <Note note=note kind="info" />
            <Transition fallback=|| view! { <Loading /> }>
                {move || Suspend::new(async move {
                    match positions.await {
                        Err(e) => broker_error(&e),
                        Ok(l) if l.positions.is_empty() => view! { <p class="empty">"No positions."</p> }.into_any(),
                        Ok(l) => view! {
                            <div class="table-wrap" tabindex="0">
                                <table data-testid="positions">
                                    <thead><tr>
                                        <th scope="col">"Symbol"</th><th scope="col">"Qty"</th><th scope="col">"Side"</th>
                                        <th scope="col">"Avg entry"</th><th scope="col">"Price"</th><th scope="col">"Value"</th>
                                        <th scope="col">"P&L"</th><th scope="col">"P&L %"</th>
                                        <th scope="col"><span class="sr-only">"Action"</span></th>
                                    </tr></thead>
                                    <tbody>{l.positions.into_iter().map(row).collect_view()}</tbody>
                                </table>
                            </div>
                        }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

fn order_price(o: &Order) -> String {
    match (&o.limit_price, &o.stop_price) {
        (Some(l), Some(s)) => format!("stop {} limit {}", money(s), money(l)),
        (Some(l), None) => format!("limit {}", money(l)),
        (None, Some(s)) => format!("stop {}", money(s)),
        (None, None) => "market".to_owned(),
    }
}

fn order_amount(o: &Order) -> String {
    match (&o.qty, &o.notional) {
        (Some(q), _) => qty(q),
        (None, Some(n)) => money(n),
        (None, None) => "–".to_owned(),
    }
}

#[component]
fn Orders() -> impl IntoView {
    let live = expect_context::<Live>();
    let note = RwSignal::new(None::<String>);
    let open = LocalResource::new(move || {
        live.broker.track();
        api::list_orders("open", 100)
    });
    let recent = LocalResource::new(move || {
        live.broker.track();
        api::list_orders("closed", 20)
    });
    let cancel = Action::new_local(move |id: &String| {
        let id = id.clone();
        async move {
            if let Err(e) = api::cancel_order(&id).await {
                show_error(&e, note, None);
            }
            live.broker.update(|n| *n += 1);
        }
    });
    let cancel_all = Action::new_local(move |_: &()| async move {
        match api::cancel_all_orders().await {
            Ok(r) => note.set(Some(format!(
                "Cancel requested for {} order(s).",
                r.orders.len()
            ))),
            Err(e) => show_error(&e, note, None),
        }
        live.broker.update(|n| *n += 1);
    });
    let table = move |orders: Vec<Order>, testid: &'static str, cancellable: bool| {
        view! {
            <div class="table-wrap" tabindex="0">
                <table data-testid=testid>
                    <thead><tr>
                        <th scope="col">"Symbol"</th><th scope="col">"Side"</th><th scope="col">"Amount"</th>
                        <th scope="col">"Type"</th><th scope="col">"Status"</th><th scope="col">"Filled"</th>
                        <th scope="col">"Submitted"</th>
                        {cancellable.then(|| view! { <th scope="col"><span class="sr-only">"Action"</span></th> })}
                    </tr></thead>
                    <tbody>
                        {orders.into_iter().map(|o| {
                            let id = o.id.clone();
                            let what = format!("{} {} {}", o.side, order_amount(&o), o.symbol);
                            let filled = if o.filled_qty.parse::<f64>().unwrap_or(0.0) > 0.0 {
                                format!("{} @ {}", qty(&o.filled_qty), money_opt(o.filled_avg_price.as_deref()))
                            } else {
                                "–".to_owned()
                            };
                            view! {
                                <tr>
                                    <th scope="row">{o.symbol.clone()}</th>
                                    <td class=if o.side == "buy" { "buy" } else { "sell" }>{o.side.clone()}</td>
                                    <td class="num">{order_amount(&o)}</td>
                                    <td>{order_price(&o)} " · " {o.time_in_force.clone()}</td>
                                    <td><span class=format!("status {}", o.status)>{o.status.replace('_', " ")}</span></td>
                                    <td class="num">{filled}</td>
                                    <td>{when_opt(o.submitted_at.as_ref().or(Some(&o.created_at)), "–")}</td>
                                    {cancellable.then(|| view! {
                                        <td class="actions">
                                            <ConfirmButton label="Cancel" confirm="Really cancel?" what=what
                                                on_confirm=move || { cancel.dispatch(id.clone()); } />
                                        </td>
                                    })}
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        }
    };
    view! {
        <section class="card" aria-labelledby="open-title">
            <div class="card-head">
                <h2 id="open-title">"Open orders"</h2>
                <ConfirmButton label="Cancel all" confirm="Really cancel all?" what="every open order"
                    on_confirm=move || { cancel_all.dispatch(()); } />
            </div>
            <Note note=note kind="info" />
            <Transition fallback=|| view! { <Loading /> }>
                {move || Suspend::new(async move {
                    match open.await {
                        Err(e) => broker_error(&e),
                        Ok(l) if l.orders.is_empty() => view! { <p class="empty">"No open orders."</p> }.into_any(),
                        Ok(l) => table(l.orders, "open-orders", true).into_any(),
                    }
                })}
            </Transition>
        </section>
        <section class="card" aria-labelledby="recent-title">
            <h2 id="recent-title">"Recent orders"</h2>
            <Transition fallback=|| view! { <Loading /> }>
                {move || Suspend::new(async move {
                    match recent.await {
                        Err(e) => broker_error(&e),
                        Ok(l) if l.orders.is_empty() => view! { <p class="empty">"No recent orders."</p> }.into_any(),
                        Ok(l) => table(l.orders, "recent-orders", false).into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn Fills() -> impl IntoView {
    let live = expect_context::<Live>();
    let fills = LocalResource::new(move || {
        live.broker.track();
        api::list_fills()
    });
    let row = |f: Fill| {
        view! {
            <tr>
                <th scope="row">{f.symbol.clone()}</th>
                <td class=if f.side == "buy" { "buy" } else { "sell" }>{f.side.clone()}</td>
                <td class="num">{qty(&f.qty)}</td>
                <td class="num">{money(&f.price)}</td>
                <td>{when(&f.transaction_time)}</td>
            </tr>
        }
    };
    view! {
        <section class="card" aria-labelledby="fills-title">
            <h2 id="fills-title">"Fills"</h2>
            <Transition fallback=|| view! { <Loading /> }>
                {move || Suspend::new(async move {
                    match fills.await {
                        Err(e) => broker_error(&e),
                        Ok(p) if p.fills.is_empty() => view! { <p class="empty">"No fills yet."</p> }.into_any(),
                        Ok(p) => view! {
                            <div class="table-wrap" tabindex="0">
                                <table data-testid="fills">
                                    <thead><tr>
                                        <th scope="col">"Symbol"</th><th scope="col">"Side"</th><th scope="col">"Qty"</th>
                                        <th scope="col">"Price"</th><th scope="col">"Time"</th>
                                    </tr></thead>
                                    <tbody>{p.fills.into_iter().map(row).collect_view()}</tbody>
                                </table>
                            </div>
                        }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
