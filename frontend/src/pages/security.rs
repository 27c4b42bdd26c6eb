//! `/security`: the account, two-factor authentication, the password,
//! sessions and the user's own audit log; `/security/2fa`: turning 2FA on.

use std::collections::BTreeMap;

use leptos::prelude::*;
use trader_api_types::auth::{
    AuditEntry, ChangePasswordRequest, CodeRequest, RecoveryCodes, Sensitive, SessionInfo,
    TwoFactorSetup, UpdateProfileRequest,
};

use crate::api::{self, ApiResult};
use crate::app::Auth;
use crate::components::{
    Fields, Loading, Note, RecoveryCodeList, TextField, confirmed, error_fallback, show_error,
    when, when_opt,
};

#[component]
pub(crate) fn Security() -> impl IntoView {
    view! {
        <h1>"Security"</h1>
        <Account />
        <TwoFactor />
        <section class="card" aria-labelledby="pw-title">
            <h2 id="pw-title">"Password"</h2>
            <ChangePassword forced=false />
        </section>
        <Sessions />
        <AuditLog all=false />
    }
}

/// Who you are, when you last signed in, and the email address.
#[component]
fn Account() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let email = RwSignal::new(
        auth.user
            .with_untracked(|u| u.as_ref().map(|u| u.email.clone()).unwrap_or_default()),
    );
    let note = RwSignal::new(None::<String>);
    let done = RwSignal::new(None::<String>);
    let fields: Fields = RwSignal::new(BTreeMap::new());
    let save = Action::new_local(move |_: &()| {
        let req = UpdateProfileRequest {
            email: email.get_untracked().trim().to_owned(),
        };
        async move {
            let result = async move { api::update_profile(&req).await }.await;
            match result {
                Ok(user) => {
                    auth.user.set(Some(user));
                    fields.set(BTreeMap::new());
                    done.set(Some("Email address saved.".to_owned()));
                }
                Err(e) => show_error(&e, note, Some(fields)),
            }
        }
    });
    view! {
        <section class="card" aria-labelledby="account-title">
            <h2 id="account-title">"Account"</h2>
            {move || auth.user.get().map(|u| view! {
                <dl class="facts">
                    <dt>"Username"</dt><dd>{u.username.clone()}</dd>
                    <dt>"Role"</dt><dd>{u.role.as_str()}</dd>
                    <dt>"Last sign-in"</dt>
                    <dd data-testid="last-login">
                        {when_opt(u.last_login_at.as_ref(), "never")}
                        {u.last_login_ip.clone().map(|ip| format!(" from {ip}"))}
                    </dd>
                </dl>
            })}
            <form class="stack" aria-label="Email address" on:submit=move |ev| {
                ev.prevent_default();
                note.set(None);
                done.set(None);
                save.dispatch(());
            }>
                <TextField id="profile-email" label="Email" name="email" value=email fields=fields
                    kind="email" autocomplete="email" />
                <Note note=note />
                <Note note=done kind="ok" />
                <button type="submit" disabled=move || save.pending().get()>"Save email"</button>
            </form>
        </section>
    }
}

/// 2FA on or off, and new recovery codes.
#[component]
fn TwoFactor() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let enabled = move || {
        auth.user
            .with(|u| u.as_ref().is_some_and(|u| u.two_factor_enabled))
    };
    view! {
        <section class="card" aria-labelledby="tfa-title">
            <h2 id="tfa-title">"Two-factor authentication"</h2>
            <Show
                when=enabled
                fallback=|| view! {
                    <p data-testid="2fa-status">"Off. Signing in needs only your password."</p>
                    <a class="button" href="/security/2fa">"Turn on two-factor authentication"</a>
                }
            >
                <p data-testid="2fa-status">"On. Signing in needs a code from your authenticator app."</p>
                <RecoveryCodesForm />
                <DisableForm />
            </Show>
        </section>
    }
}

#[component]
fn RecoveryCodesForm() -> impl IntoView {
    let code = RwSignal::new(String::new());
    let note = RwSignal::new(None::<String>);
    let fields: Fields = RwSignal::new(BTreeMap::new());
    let codes = RwSignal::new(None::<RecoveryCodes>);
    let submit = Action::new_local(move |_: &()| {
        let req = CodeRequest {
            code: Sensitive::new(code.get_untracked().trim()),
        };
        async move {
            let result = async move { api::regenerate_recovery_codes(&req).await }.await;
            code.set(String::new());
            match result {
                Ok(c) => codes.set(Some(c)),
                Err(e) => show_error(&e, note, Some(fields)),
            }
        }
    });
    view! {
        <form class="stack" aria-label="New recovery codes" on:submit=move |ev| {
            ev.prevent_default();
            note.set(None);
            submit.dispatch(());
        }>
            <h3>"New recovery codes"</h3>
            <p>"The old codes stop working."</p>
            <TextField id="rc-code" label="Authenticator code" name="code" value=code fields=fields
                inputmode="numeric" autocomplete="one-time-code" />
            <Note note=note />
            <button type="submit" disabled=move || submit.pending().get()>"Make new recovery codes"</button>
        </form>
        {move || codes.get().map(|c| view! { <RecoveryCodeList codes=c.recovery_codes /> })}
    }
}

#[component]
fn DisableForm() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let code = RwSignal::new(String::new());
    let note = RwSignal::new(None::<String>);
    let fields: Fields = RwSignal::new(BTreeMap::new());
    let submit = Action::new_local(move |_: &()| {
        let req = CodeRequest {
            code: Sensitive::new(code.get_untracked().trim()),
        };
        async move {
            let result = async move { confirmed(|| api::disable_two_factor(&req)).await }.await;
            code.set(String::new());
            match result {
                Ok(()) => auth.refresh(),
                Err(e) => show_error(&e, note, Some(fields)),
            }
        }
    });
    view! {
        <form class="stack" aria-label="Turn off two-factor authentication" on:submit=move |ev| {
            ev.prevent_default();
            note.set(None);
            submit.dispatch(());
        }>
            <h3>"Turn off"</h3>
            <TextField id="disable-code" label="Authenticator code" name="code" value=code fields=fields
                inputmode="numeric" autocomplete="one-time-code" />
            <Note note=note />
            <button type="submit" class="danger" disabled=move || submit.pending().get()>
                "Turn off two-factor authentication"
            </button>
        </form>
    }
}

/// The password change; `forced` after an admin reset (then the shell
/// shows only this).
#[component]
pub(crate) fn ChangePassword(forced: bool) -> impl IntoView {
    let auth = expect_context::<Auth>();
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let repeat = RwSignal::new(String::new());
    let note = RwSignal::new(None::<String>);
    let done = RwSignal::new(None::<String>);
    let fields: Fields = RwSignal::new(BTreeMap::new());
    let submit = Action::new_local(move |_: &()| {
        let req = ChangePasswordRequest {
            current_password: Sensitive::new(current.get_untracked()),
            new_password: Sensitive::new(new.get_untracked()),
        };
        async move {
            let result = async move { api::change_password(&req).await }.await;
            match result {
                Ok(()) => {
                    current.set(String::new());
                    new.set(String::new());
                    repeat.set(String::new());
                    fields.set(BTreeMap::new());
                    done.set(Some(
                        "Password changed. Your other sessions were signed out.".to_owned(),
                    ));
                    auth.refresh();
                }
                Err(e) => show_error(&e, note, Some(fields)),
            }
        }
    });
    view! {
        <form class="stack" aria-label="Change password" on:submit=move |ev| {
            ev.prevent_default();
            note.set(None);
            done.set(None);
            if new.get_untracked() != repeat.get_untracked() {
                fields.set(BTreeMap::from([("repeat".to_owned(), "the two new passwords differ".to_owned())]));
                return;
            }
            fields.set(BTreeMap::new());
            submit.dispatch(());
        }>
            <TextField id="pw-current" label=if forced { "Temporary password" } else { "Current password" }
                name="current_password" value=current fields=fields kind="password"
                autocomplete="current-password" autofocus=forced />
            <TextField id="pw-new" label="New password" name="new_password" value=new fields=fields
                kind="password" autocomplete="new-password" hint="At least 12 characters." />
            <TextField id="pw-repeat" label="New password again" name="repeat" value=repeat fields=fields
                kind="password" autocomplete="new-password" />
            <Note note=note />
            <Note note=done kind="ok" />
            <button type="submit" disabled=move || submit.pending().get()>"Change password"</button>
        </form>
    }
}

/// `/security/2fa`: QR code and secret, the first code, recovery codes.
#[component]
pub(crate) fn TwoFactorSetup() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let setup = RwSignal::new(None::<TwoFactorSetup>);
    let codes = RwSignal::new(None::<RecoveryCodes>);
    let code = RwSignal::new(String::new());
    let note = RwSignal::new(None::<String>);
    let fields: Fields = RwSignal::new(BTreeMap::new());
    let version = RwSignal::new(0u32);
    let start = Action::new_local(move |_: &()| async move {
        let result = async move { api::setup_two_factor().await }.await;
        match result {
            Ok(s) => {
                version.update(|v| *v += 1);
                setup.set(Some(s));
            }
            Err(e) => show_error(&e, note, None),
        }
    });
    let enable = Action::new_local(move |_: &()| {
        let req = CodeRequest {
            code: Sensitive::new(code.get_untracked().trim()),
        };
        async move {
            let result = async move { confirmed(|| api::enable_two_factor(&req)).await }.await;
            code.set(String::new());
            match result {
                Ok(c) => {
                    codes.set(Some(c));
                    auth.user.update(|u| {
                        if let Some(u) = u {
                            u.two_factor_enabled = true;
                        }
                    });
                }
                Err(e) => show_error(&e, note, Some(fields)),
            }
        }
    });
    let already = move || {
        auth.user
            .with(|u| u.as_ref().is_some_and(|u| u.two_factor_enabled))
            && codes.with(Option::is_none)
    };
    view! {
        <h1>"Turn on two-factor authentication"</h1>
        {move || {
            if let Some(c) = codes.get() {
                view! {
                    <p class="note ok" role="status">"Two-factor authentication is on."</p>
                    <RecoveryCodeList codes=c.recovery_codes />
                    <p><a class="button" href="/security">"I saved them: back to Security"</a></p>
                }.into_any()
            } else if already() {
                view! {
                    <p>"Two-factor authentication is already on."</p>
                    <p><a href="/security">"Back to Security"</a></p>
                }.into_any()
            } else if let Some(s) = setup.get() {
                let secret = s.secret.expose().to_owned();
                view! {
                    <section class="card" aria-labelledby="scan-title">
                        <h2 id="scan-title">"1. Add the account to your authenticator app"</h2>
                        <img class="qr" src=format!("/api/2fa/qrcode?v={}", version.get_untracked())
                            alt="QR code with the two-factor secret for your authenticator app"
                            width="200" height="200" />
                        <p>"Or type this secret into the app:"</p>
                        <p><code class="secret" data-testid="totp-secret">{secret}</code></p>
                    </section>
                    <section class="card" aria-labelledby="verify-title">
                        <h2 id="verify-title">"2. Enter the code it shows"</h2>
                        <form class="stack" aria-label="Confirm the first code" on:submit=move |ev| {
                            ev.prevent_default();
                            note.set(None);
                            enable.dispatch(());
                        }>
                            <TextField id="enable-code" label="Six-digit code" name="code" value=code
                                fields=fields inputmode="numeric" autocomplete="one-time-code" autofocus=true />
                            <Note note=note />
                            <button type="submit" disabled=move || enable.pending().get()>"Turn on"</button>
                        </form>
                    </section>
                }.into_any()
            } else {
                view! {
                    <section class="card">
                        <p>
                            "You will need an authenticator app (such as Aegis, FreeOTP or Google Authenticator). "
                            "After this, signing in asks for its six-digit code as well as your password."
                        </p>
                        <Note note=note />
                        <button type="button" disabled=move || start.pending().get()
                            on:click=move |_| { start.dispatch(()); }>"Start"</button>
                    </section>
                }.into_any()
            }
        }}
    }
}

/// The user's sessions: end one, or all the others.
#[component]
fn Sessions() -> impl IntoView {
    let sessions = LocalResource::new(api::list_sessions);
    let note = RwSignal::new(None::<String>);
    let end = Action::new_local(move |ids: &Vec<i64>| {
        let ids = ids.clone();
        async move {
            let result = async move {
                for id in ids {
                    api::delete_session(id).await?;
                }
                ApiResult::Ok(())
            }
            .await;
            if let Err(e) = result {
                show_error(&e, note, None);
            }
            sessions.refetch();
        }
    });
    let row = move |s: SessionInfo| {
        let id = s.id;
        view! {
            <tr>
                <td>{when(&s.created_at)}</td>
                <td>{when(&s.last_seen_at)}</td>
                <td>{s.ip.clone().unwrap_or_else(|| "unknown".to_owned())}</td>
                <td class="ua">{s.user_agent.clone().unwrap_or_default()}</td>
                <td>
                    {if s.current {
                        view! { <span class="badge">"This session"</span> }.into_any()
                    } else {
                        view! {
                            <button type="button" class="secondary"
                                on:click=move |_| { end.dispatch(vec![id]); }>"End"</button>
                        }.into_any()
                    }}
                </td>
            </tr>
        }
    };
    view! {
        <section class="card" aria-labelledby="sessions-title">
            <h2 id="sessions-title">"Sessions"</h2>
            <Note note=note />
            <Transition fallback=|| view! { <Loading /> }>
                <ErrorBoundary fallback=error_fallback>
                    {move || Suspend::new(async move {
                        sessions.await.map(|list| {
                            let others: Vec<i64> = list.sessions.iter().filter(|s| !s.current).map(|s| s.id).collect();
                            let has_others = !others.is_empty();
                            view! {
                                <div class="table-wrap">
                                    <table>
                                        <thead><tr>
                                            <th scope="col">"Started"</th><th scope="col">"Last seen"</th>
                                            <th scope="col">"Address"</th><th scope="col">"Browser"</th>
                                            <th scope="col"><span class="sr-only">"Action"</span></th>
                                        </tr></thead>
                                        <tbody>{list.sessions.into_iter().map(row).collect_view()}</tbody>
                                    </table>
                                </div>
                                <Show when=move || has_others fallback=|| view! { <p class="empty">"No other sessions."</p> }>
                                    <button type="button" class="danger"
                                        on:click={let others = others.clone(); move |_| { end.dispatch(others.clone()); }}>
                                        "End all other sessions"
                                    </button>
                                </Show>
                            }
                        })
                    })}
                </ErrorBoundary>
            </Transition>
        </section>
    }
}

/// An audit log, newest first, 50 at a time: the user's own, or (admins,
/// `all`) everyone's.
#[component]
pub(crate) fn AuditLog(all: bool) -> impl IntoView {
    let before = RwSignal::new(None::<i64>);
    let extra = RwSignal::new(Vec::<AuditEntry>::new());
    let page = LocalResource::new(move || {
        let b = before.get();
        async move {
            if all {
                api::list_all_audit(b).await
            } else {
                api::list_audit(b).await
            }
        }
    });
    let row = move |e: AuditEntry| {
        view! {
            <tr>
                <td>{when(&e.at)}</td>
                <td><code>{e.event.clone()}</code></td>
                <Show when=move || all><td>{e.username.clone().unwrap_or_default()}</td></Show>
                <td>{e.ip.clone().unwrap_or_default()}</td>
                <td class="ua">{e.detail.as_ref().map(|d| d.to_string()).unwrap_or_default()}</td>
            </tr>
        }
    };
    view! {
        <section class="card" aria-labelledby="audit-title">
            <h2 id="audit-title">{if all { "Everyone's audit log" } else { "Your audit log" }}</h2>
            <Transition fallback=|| view! { <Loading /> }>
                <ErrorBoundary fallback=error_fallback>
                    {move || Suspend::new(async move {
                        page.await.map(|p| {
                            let shown: Vec<AuditEntry> = extra.get_untracked().into_iter().chain(p.entries.clone()).collect();
                            let next = p.next_before;
                            if shown.is_empty() {
                                return view! { <p class="empty">"Nothing recorded yet."</p> }.into_any();
                            }
                            view! {
                                <div class="table-wrap">
                                    <table>
                                        <thead><tr>
                                            <th scope="col">"When"</th><th scope="col">"Event"</th>
                                            <Show when=move || all><th scope="col">"User"</th></Show>
                                            <th scope="col">"Address"</th><th scope="col">"Detail"</th>
                                        </tr></thead>
                                        <tbody>{shown.clone().into_iter().map(row).collect_view()}</tbody>
                                    </table>
                                </div>
                                {next.map(|n| view! {
                                    <button type="button" class="secondary" on:click=move |_| {
                                        extra.set(shown.clone());
                                        before.set(Some(n));
                                    }>"Older entries"</button>
                                })}
                            }.into_any()
                        })
                    })}
                </ErrorBoundary>
            </Transition>
        </section>
    }
}
