//! `/scheduler`: whether the scheduler runs, its last pass, your schedule;
//! admins also see every user's.

use leptos::prelude::*;
use trader_api_types::signals::UserSchedule;

use crate::api;
use crate::components::{Loading, error_fallback, when, when_opt};
use crate::live::Live;

fn schedule_row(u: UserSchedule) -> impl IntoView {
    view! {
        <tr>
            <th scope="row">{u.user_id}</th>
            <td>{when_opt(u.last_run_at.as_ref(), "never")}</td>
            <td>{when_opt(u.next_run_at.as_ref(), "–")}</td>
            <td>{u.last_error.clone().unwrap_or_default()}</td>
        </tr>
    }
}

#[component]
pub(crate) fn Scheduler() -> impl IntoView {
    let live = expect_context::<Live>();
    let status = LocalResource::new(move || {
        live.scheduler.track();
        api::scheduler_status()
    });
    view! {
        <h1>"Scheduler"</h1>
        <Transition fallback=|| view! { <Loading /> }>
            <ErrorBoundary fallback=error_fallback>
                {move || Suspend::new(async move {
                    status.await.map(|s| {
                        let state = match (s.enabled, s.running) {
                            (false, _) => "off on this server (--no-scheduler)",
                            (true, true) => "running",
                            (true, false) => "on, but no pass finished recently",
                        };
                        view! {
                            <section class="card" aria-labelledby="sched-title">
                                <h2 id="sched-title">"Status"</h2>
                                <dl class="facts" data-testid="scheduler">
                                    <dt>"Scheduler"</dt><dd>{state}</dd>
                                    {s.last_pass.map(|p| view! {
                                        <dt>"Last pass"</dt><dd>{when(&p.started_at)}</dd>
                                        <dt>"Took"</dt><dd>{p.duration_ms.map_or_else(|| "still running".to_owned(), |ms| format!("{ms} ms"))}</dd>
                                        <dt>"Users, symbols, signals"</dt><dd>{format!("{}, {}, {}", p.users, p.symbols, p.signals)}</dd>
                                        <dt>"Errors"</dt><dd class={if p.errors > 0 { "neg" } else { "" }}>{p.errors}</dd>
                                    })}
                                </dl>
                            </section>
                            <section class="card" aria-labelledby="you-title">
                                <h2 id="you-title">"Your schedule"</h2>
                                <dl class="facts">
                                    <dt>"Last run"</dt><dd>{when_opt(s.you.last_run_at.as_ref(), "never")}</dd>
                                    <dt>"Next run"</dt><dd>{when_opt(s.you.next_run_at.as_ref(), "–")}</dd>
                                    <dt>"Last error"</dt><dd>{s.you.last_error.clone().unwrap_or_else(|| "none".to_owned())}</dd>
                                </dl>
                                <p class="hint">"When and how often it runs is in the schedule group of the " <a href="/settings">"settings"</a> "."</p>
                            </section>
                            {s.users.map(|users| view! {
                                <section class="card" aria-labelledby="users-sched-title">
                                    <h2 id="users-sched-title">"Every user's schedule"</h2>
                                    <div class="table-wrap" tabindex="0">
                                        <table data-testid="schedules">
                                            <thead><tr>
                                                <th scope="col">"User id"</th><th scope="col">"Last run"</th>
                                                <th scope="col">"Next run"</th><th scope="col">"Last error"</th>
                                            </tr></thead>
                                            <tbody>{users.into_iter().map(schedule_row).collect_view()}</tbody>
                                        </table>
                                    </div>
                                </section>
                            })}
                        }
                    })
                })}
            </ErrorBoundary>
        </Transition>
    }
}
