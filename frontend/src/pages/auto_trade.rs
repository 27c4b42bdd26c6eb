//! `/auto-trade`: its settings and guardrails (the `auto_trade` group), the
//! decision log, and the kill switch, which also sits in the page frame on
//! every page while auto-trade is on.

use leptos::prelude::*;
use leptos::task::spawn_local;
use trader_api_types::auto_trade::Decision;

use crate::api;
use crate::components::{Loading, Note, error_fallback, show_error, when};
use crate::live::Live;
use crate::pages::settings::SettingsForm;

thread_local! {
    static STATE: std::cell::Cell<Option<AutoTradeState>> = const { std::cell::Cell::new(None) };
}

/// Whether auto-trade is on, from the settings; refreshed on `auto_trade`
/// events, polls and saves.
#[derive(Clone, Copy)]
pub(crate) struct AutoTradeState {
    pub(crate) on: RwSignal<bool>,
    pub(crate) dry_run: RwSignal<bool>,
}

impl AutoTradeState {
    pub(crate) fn new() -> Self {
        let s = Self {
            on: RwSignal::new(false),
            dry_run: RwSignal::new(true),
        };
        STATE.with(|c| c.set(Some(s)));
        s
    }

    pub(crate) fn current() -> Option<Self> {
        STATE.with(std::cell::Cell::get)
    }

    /// Reads the settings again.
    pub(crate) fn refresh(self) {
        spawn_local(async move {
            if let Ok(s) = api::get_settings().await {
                let at = s.get("auto_trade");
                let flag = |k: &str, d: bool| {
                    at.and_then(|a| a.get(k))
                        .and_then(serde_json::Value::as_bool)
                        .unwrap_or(d)
                };
                self.on.set(flag("enabled", false));
                self.dry_run.set(flag("dry_run", true));
            }
        });
    }
}

/// The kill switch: saves "off" first, then cancels auto-trade's open orders.
#[component]
pub(crate) fn KillSwitch() -> impl IntoView {
    let state = expect_context::<AutoTradeState>();
    let live = expect_context::<Live>();
    let note = RwSignal::new(None::<String>);
    let failed = RwSignal::new(None::<String>);
    let stop = Action::new_local(move |_: &()| async move {
        failed.set(None);
        match api::stop_auto_trade().await {
            Ok(r) => {
                state.on.set(false);
                let mut text = format!(
                    "Auto-trade is off. {} open order(s) cancelled.",
                    r.cancelled.len()
                );
                for f in &r.failed {
                    text.push_str(&format!(
                        " Not cancelled: {} ({}).",
                        f.symbol
                            .clone()
                            .or_else(|| f.order_id.clone())
                            .unwrap_or_default(),
                        f.message
                    ));
                }
                note.set(Some(text));
                live.auto_trade.update(|n| *n += 1);
                live.broker.update(|n| *n += 1);
            }
            Err(e) => {
                note.set(None);
                show_error(&e, failed, None);
            }
        }
    });
    view! {
        {move || failed.get().map(|n| view! { <p class="note error" role="alert" data-testid="kill-switch-failed">{n}</p> })}
        <Show when=move || state.on.get()>
            <div class="killswitch" role="region" aria-label="Auto-trade is on">
                <p>
                    <strong>"Auto-trade is ON"</strong>
                    {move || if state.dry_run.get() { " (dry run: decisions only, no orders)" } else { ": it places real orders" }}
                </p>
                <button type="button" class="danger strong" data-testid="kill-switch"
                    disabled=move || stop.pending().get()
                    on:click=move |_| { stop.dispatch(()); }>"Stop auto-trade now"</button>
            </div>
        </Show>
        {move || note.get().map(|n| view! { <p class="note ok killswitch-done" role="status" data-testid="kill-switch-report">{n}</p> })}
    }
}

#[component]
pub(crate) fn AutoTradePage() -> impl IntoView {
    let live = expect_context::<Live>();
    let note = RwSignal::new(None::<String>);
    let log = LocalResource::new(move || {
        live.auto_trade.track();
        api::auto_trade_log()
    });
    let row = |d: Decision| {
        let amount = match (&d.qty, &d.notional) {
            (Some(q), _) => format!("{q} sh"),
            (None, Some(n)) => crate::components::money(n),
            _ => "–".to_owned(),
        };
        view! {
            <tr>
                <td>{when(&d.created_at)}</td>
                <th scope="row"><a href=format!("/signals/{}", d.symbol)>{d.symbol.clone()}</a></th>
                <td><span class=format!("action {}", d.action)>{d.action.to_uppercase()}</span></td>
                <td><span class=format!("outcome {}", d.outcome)>{d.outcome.replace('_', " ")}</span></td>
                <td>{d.side.clone().unwrap_or_default()} " " {amount}</td>
                <td>{d.reason.clone()}</td>
                <td>{when(&d.bar_time)} " " <span class="sub">{d.timeframe.clone()}</span></td>
            </tr>
        }
    };
    view! {
        <h1>"Auto-trade"</h1>
        <p>"When it is on, each scheduler pass turns fresh BUY and SELL signals into orders on the one account you name, within these guardrails. "
           "Dry run records the decisions without sending anything. Turning it on or raising a limit needs two-factor authentication and a fresh confirmation."</p>
        <section class="card" aria-labelledby="at-settings">
            <h2 id="at-settings">"Settings and guardrails"</h2>
            <SettingsForm groups=&["auto_trade"] submit_label="Save auto-trade settings" />
            <p class="hint">"Order sizing (position size, max positions, shorts) is in the execution group of the "
                <a href="/settings">"settings"</a> "."</p>
        </section>
        <section class="card" aria-labelledby="at-log">
            <h2 id="at-log">"Decision log"</h2>
            <Note note=note />
            <Transition fallback=|| view! { <Loading /> }>
                <ErrorBoundary fallback=error_fallback>
                    {move || Suspend::new(async move {
                        log.await.map(|page| {
                            if page.decisions.is_empty() {
                                return view! { <p class="empty">"No decisions yet: they appear after a scheduler pass finds a fresh BUY or SELL signal."</p> }.into_any();
                            }
                            view! {
                                <div class="table-wrap" tabindex="0">
                                    <table data-testid="decisions">
                                        <thead><tr>
                                            <th scope="col">"When"</th><th scope="col">"Symbol"</th><th scope="col">"Signal"</th>
                                            <th scope="col">"Outcome"</th><th scope="col">"Order"</th><th scope="col">"Why"</th>
                                            <th scope="col">"Bar"</th>
                                        </tr></thead>
                                        <tbody>{page.decisions.into_iter().map(row).collect_view()}</tbody>
                                    </table>
                                </div>
                            }.into_any()
                        })
                    })}
                </ErrorBoundary>
            </Transition>
        </section>
    }
}
