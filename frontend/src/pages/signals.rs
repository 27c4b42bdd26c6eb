//! `/signals`: the signal of every symbol of a watchlist (action, strength,
//! each rule's vote and values, the bar's time), sortable and filterable;
//! `/signals/{symbol}`: the chart, and the symbol's signal history.

use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};
use trader_api_types::signals::{HistoryEntry, RuleVote, SymbolSignal};

use crate::api;
use crate::chart::PriceChart;
use crate::components::{Loading, error_fallback, when, when_opt};
use crate::live::Live;

#[derive(Clone, Copy, PartialEq, Eq)]
enum SortBy {
    Symbol,
    Action,
    Strength,
    Price,
    Time,
}

fn action_rank(a: Option<&str>) -> u8 {
    match a {
        Some("buy") => 0,
        Some("sell") => 1,
        Some("hold") => 2,
        _ => 3,
    }
}

/// Sorts `rows` in place.
fn sort_signals(rows: &mut [SymbolSignal], by: SortBy, descending: bool) {
    rows.sort_by(|a, b| {
        let o = match by {
            SortBy::Symbol => a.symbol.cmp(&b.symbol),
            SortBy::Action => {
                action_rank(a.action.as_deref()).cmp(&action_rank(b.action.as_deref()))
            }
            SortBy::Strength => a
                .strength_pct
                .unwrap_or(-1.0)
                .total_cmp(&b.strength_pct.unwrap_or(-1.0)),
            SortBy::Price => a.price.unwrap_or(-1.0).total_cmp(&b.price.unwrap_or(-1.0)),
            SortBy::Time => a.bar_time.cmp(&b.bar_time),
        };
        if descending { o.reverse() } else { o }
    });
}

fn action_badge(action: Option<&str>) -> AnyView {
    let (class, text) = match action {
        Some("buy") => ("action buy", "BUY"),
        Some("sell") => ("action sell", "SELL"),
        Some("hold") => ("action hold", "HOLD"),
        _ => ("action none", "–"),
    };
    view! { <span class=class>{text}</span> }.into_any()
}

fn vote_list(votes: &[RuleVote]) -> AnyView {
    view! {
        <ul class="votes">
            {votes.iter().map(|v| {
                let values = v.values.iter().map(|(k, x)| format!("{k} {}", x.map_or_else(|| "–".to_owned(), |x| format!("{x:.2}")))).collect::<Vec<_>>().join(", ");
                view! {
                    <li title=v.reason.clone()>
                        <span class="rule">{v.rule.replace('_', " ")}</span> " "
                        <span class=format!("vote {}", v.vote)>{v.vote.clone()}</span>
                        <span class="values">{values}</span>
                    </li>
                }
            }).collect_view()}
        </ul>
    }
    .into_any()
}

#[component]
pub(crate) fn Signals() -> impl IntoView {
    let live = expect_context::<Live>();
    let query = use_query_map();
    let lists = LocalResource::new(api::list_watchlists);
    let chosen = RwSignal::new(
        query.with_untracked(|q| q.get("watchlist").and_then(|v| v.parse::<i64>().ok())),
    );
    let signals = LocalResource::new(move || {
        live.signals.track();
        api::list_signals(chosen.get())
    });
    let filter = RwSignal::new("all".to_owned());
    let sort = RwSignal::new((SortBy::Symbol, false));
    let header = move |label: &'static str, by: SortBy| {
        let aria = move || match sort.get() {
            (b, false) if b == by => "ascending",
            (b, true) if b == by => "descending",
            _ => "none",
        };
        view! {
            <th scope="col" aria-sort=aria>
                <button type="button" class="sort" on:click=move |_| sort.update(|(b, d)| {
                    if *b == by { *d = !*d } else { *b = by; *d = matches!(by, SortBy::Strength | SortBy::Time) }
                })>{label}</button>
            </th>
        }
    };
    view! {
        <div class="page-head">
            <h1>"Signals"</h1>
            <a href="/watchlists">"Edit watchlists"</a>
        </div>
        <section class="card">
            <div class="row filters">
                <div class="field">
                    <label for="signals-list">"Watchlist"</label>
                    <select id="signals-list" on:change=move |ev| chosen.set(event_target_value(&ev).parse().ok())>
                        {move || lists.get().and_then(Result::ok).map(|l| l.watchlists.into_iter().map(|w| {
                            let selected = chosen.get_untracked().map_or(w.is_default, |c| c == w.id);
                            view! { <option value=w.id.to_string() selected=selected>{w.name.clone()}</option> }
                        }).collect_view())}
                    </select>
                </div>
                <div class="field">
                    <label for="signals-filter">"Action"</label>
                    <select id="signals-filter" bind:value=filter>
                        <option value="all">"All"</option>
                        <option value="buy">"Buy"</option>
                        <option value="sell">"Sell"</option>
                        <option value="hold">"Hold"</option>
                    </select>
                </div>
            </div>
            <Transition fallback=|| view! { <Loading /> }>
                <ErrorBoundary fallback=error_fallback>
                    {move || Suspend::new(async move {
                        signals.await.map(|list| {
                            if list.signals.is_empty() {
                                return view! { <p class="empty">"This watchlist has no symbols. " <a href="/watchlists">"Add some"</a> "."</p> }.into_any();
                            }
                            let rows = move || {
                                let mut rows: Vec<SymbolSignal> = list.signals.iter().filter(|s| {
                                    let f = filter.get();
                                    f == "all" || s.action.as_deref() == Some(f.as_str())
                                }).cloned().collect();
                                let (by, desc) = sort.get();
                                sort_signals(&mut rows, by, desc);
                                if rows.is_empty() {
                                    return view! { <tr><td colspan="6" class="empty">"No symbol has this action."</td></tr> }.into_any();
                                }
                                rows.into_iter().map(signal_row).collect_view().into_any()
                            };
                            view! {
                                <p class="hint">{format!("{} timeframe, the last {} closed bars.", list.timeframe, list.window)}</p>
                                <div class="table-wrap" tabindex="0">
                                    <table data-testid="signals" class="signals">
                                        <thead><tr>
                                            {header("Symbol", SortBy::Symbol)}
                                            {header("Action", SortBy::Action)}
                                            {header("Strength", SortBy::Strength)}
                                            <th scope="col">"Rules"</th>
                                            {header("Price", SortBy::Price)}
                                            {header("Bar", SortBy::Time)}
                                        </tr></thead>
                                        <tbody>{rows}</tbody>
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

fn signal_row(s: SymbolSignal) -> impl IntoView {
    let strength = s.strength_pct.map(|p| p.clamp(0.0, 100.0));
    view! {
        <tr data-symbol=s.symbol.clone()>
            <th scope="row">
                <a href=format!("/signals/{}", s.symbol)>{s.symbol.clone()}</a>
                <span class="sub">{s.name.clone().unwrap_or_default()}</span>
            </th>
            <td>{action_badge(s.action.as_deref())}</td>
            <td>{strength.map(|p| view! {
                <span class="strength"><meter min="0" max="100" value=p aria-label=format!("Strength {p:.0} %")></meter>
                {format!(" {p:.0} %")}</span>
            })}</td>
            <td>{match &s.error {
                Some(e) => view! { <span class="note-inline">{e.clone()}</span> }.into_any(),
                None => vote_list(&s.votes),
            }}</td>
            <td class="num">{s.price.map(|p| format!("{p:.2}")).unwrap_or_else(|| "–".to_owned())}</td>
            <td>{when_opt(s.bar_time.as_ref(), "–")}</td>
        </tr>
    }
}

const LIMITS: [u32; 4] = [100, 200, 500, 1000];

#[component]
pub(crate) fn ChartPage() -> impl IntoView {
    let params = use_params_map();
    let symbol = move || params.with(|p| p.get("symbol").unwrap_or_default().to_uppercase());
    let limit = RwSignal::new(200u32);
    let live = expect_context::<Live>();
    let data = LocalResource::new(move || {
        live.signals.track();
        let s = symbol();
        let n = limit.get();
        async move { api::chart(&s, n).await }
    });
    let history = LocalResource::new(move || {
        live.signals.track();
        let s = symbol();
        async move { api::signal_history(Some(&s)).await }
    });
    view! {
        <div class="page-head">
            <h1>{symbol}</h1>
            <div class="row">
                <div class="field inline">
                    <label for="chart-bars">"Bars"</label>
                    <select id="chart-bars" on:change=move |ev| {
                        if let Ok(n) = event_target_value(&ev).parse() { limit.set(n) }
                    }>
                        {LIMITS.into_iter().map(|n| view! { <option value=n.to_string() selected={n == 200}>{n}</option> }).collect_view()}
                    </select>
                </div>
                <a class="button" href=move || format!("/trade?symbol={}", symbol())>"Trade"</a>
            </div>
        </div>
        <section class="card" aria-label="Chart">
            <Transition fallback=|| view! { <Loading /> }>
                <ErrorBoundary fallback=error_fallback>
                    {move || Suspend::new(async move {
                        data.await.map(|d| {
                            if d.bars.is_empty() {
                                return view! { <p class="empty">"No bars for this symbol."</p> }.into_any();
                            }
                            let title = format!("{} bars, {} timeframe, {} buy/sell markers", d.bars.len(), d.timeframe, d.markers.len());
                            view! { <p class="hint">{title}</p> <PriceChart data=d /> }.into_any()
                        })
                    })}
                </ErrorBoundary>
            </Transition>
        </section>
        <section class="card" aria-labelledby="history-title">
            <h2 id="history-title">"Signal history"</h2>
            <Transition fallback=|| view! { <Loading /> }>
                <ErrorBoundary fallback=error_fallback>
                    {move || Suspend::new(async move {
                        history.await.map(|h| {
                            if h.signals.is_empty() {
                                return view! { <p class="empty">"No stored signals for this symbol yet: the scheduler stores them on each pass."</p> }.into_any();
                            }
                            view! {
                                <div class="table-wrap" tabindex="0">
                                    <table data-testid="history">
                                        <thead><tr>
                                            <th scope="col">"Bar"</th><th scope="col">"Action"</th><th scope="col">"Strength"</th>
                                            <th scope="col">"Price"</th><th scope="col">"Rules"</th><th scope="col">"Stored"</th>
                                        </tr></thead>
                                        <tbody>{h.signals.into_iter().map(history_row).collect_view()}</tbody>
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

fn history_row(h: HistoryEntry) -> impl IntoView {
    view! {
        <tr>
            <td>{when(&h.bar_time)} " " <span class="sub">{h.timeframe.clone()}</span></td>
            <td>{action_badge(Some(&h.action))}</td>
            <td class="num">{format!("{:.0} %", h.strength_pct)}</td>
            <td class="num">{h.price.map(|p| format!("{p:.2}")).unwrap_or_else(|| "–".to_owned())}</td>
            <td>{vote_list(&h.votes)}</td>
            <td>{when(&h.created_at)}</td>
        </tr>
    }
}
