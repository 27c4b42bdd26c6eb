//! Signing in: the password form, registration (when open), claiming a
//! fresh install with the setup token, and the second step (a 2FA code or
//! a recovery code).

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_navigate;
use trader_api_types::auth::{CodeRequest, LoginRequest, RegisterRequest, Sensitive};

use crate::api;
use crate::app::{Auth, Page};
use crate::components::{Fields, Loading, Note, TextField, error_fallback, show_error};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tab {
    SignIn,
    Register,
}

/// `/login`: sign in, register, or claim a fresh install.
#[component]
pub(crate) fn SignIn() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let status = LocalResource::new(api::setup_status);
    view! {
        <Show when=move || auth.user.with(Option::is_some)>
            <Redirect path="/" />
        </Show>
        <Page>
            <Transition fallback=|| view! { <Loading /> }>
                <ErrorBoundary fallback=error_fallback>
                    {move || Suspend::new(async move {
                        status.await.map(|s| {
                            if s.setup_required {
                                view! { <ClaimInstall /> }.into_any()
                            } else {
                                view! { <SignInTabs registration_open=s.registration_open /> }.into_any()
                            }
                        })
                    })}
                </ErrorBoundary>
            </Transition>
        </Page>
    }
}

#[component]
fn SignInTabs(registration_open: bool) -> impl IntoView {
    let tab = RwSignal::new(Tab::SignIn);
    let tab_button = move |which: Tab, label: &'static str, id: &'static str| {
        view! {
            <button
                type="button"
                role="tab"
                id=id
                aria-selected=move || (tab.get() == which).to_string()
                class:active=move || tab.get() == which
                on:click=move |_| tab.set(which)
            >
                {label}
            </button>
        }
    };
    view! {
        <Show when=move || registration_open fallback=|| view! { <h1>"Sign in"</h1> }>
            <div class="tabs" role="tablist" aria-label="Sign in or register">
                {tab_button(Tab::SignIn, "Sign in", "tab-signin")}
                {tab_button(Tab::Register, "Register", "tab-register")}
            </div>
        </Show>
        {move || match tab.get() {
            Tab::SignIn => view! { <SignInForm /> }.into_any(),
            Tab::Register => view! { <RegisterForm setup=false /> }.into_any(),
        }}
    }
}

/// Signs in with the password; goes on to the second step when 2FA is on.
#[component]
fn SignInForm() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let navigate = use_navigate();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let note = RwSignal::new(None::<String>);
    let fields: Fields = RwSignal::new(BTreeMap::new());
    let submit = Action::new_local(move |_: &()| {
        let navigate = navigate.clone();
        let req = LoginRequest {
            username: username.get_untracked().trim().to_owned(),
            password: Sensitive::new(password.get_untracked()),
        };
        async move {
            let result = async move { api::login(&req).await }.await;
            match result {
                Ok(res) if res.two_factor_required => {
                    password.set(String::new());
                    navigate("/login/2fa", Default::default());
                }
                Ok(res) => {
                    password.set(String::new());
                    auth.user.set(res.user);
                }
                Err(e) => show_error(&e, note, Some(fields)),
            }
        }
    });
    view! {
        <form class="stack" aria-label="Sign in" on:submit=move |ev| {
            ev.prevent_default();
            note.set(None);
            submit.dispatch(());
        }>
            <TextField id="login-username" label="Username" name="username" value=username
                fields=fields autocomplete="username" autofocus=true />
            <TextField id="login-password" label="Password" name="password" value=password
                fields=fields kind="password" autocomplete="current-password" />
            <Note note=note />
            <button type="submit" disabled=move || submit.pending().get()>
                {move || if submit.pending().get() { "Signing in…" } else { "Sign in" }}
            </button>
        </form>
    }
}

/// The first admin claims a fresh install with the setup token.
#[component]
fn ClaimInstall() -> impl IntoView {
    view! {
        <h1>"Set up alpaca-trader"</h1>
        <p>
            "This is a fresh install. Create the administrator account with the one-time setup token "
            "from the server's start-up output (or its " <code>"data/setup-token"</code> " file)."
        </p>
        <RegisterForm setup=true />
    }
}

/// Registration; with `setup`, the first admin's (asks for the token).
#[component]
fn RegisterForm(setup: bool) -> impl IntoView {
    let auth = expect_context::<Auth>();
    let username = RwSignal::new(String::new());
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let token = RwSignal::new(String::new());
    let note = RwSignal::new(None::<String>);
    let fields: Fields = RwSignal::new(BTreeMap::new());
    let submit = Action::new_local(move |_: &()| {
        let username = username.get_untracked().trim().to_owned();
        let pw = Sensitive::new(password.get_untracked());
        let req = RegisterRequest {
            username: username.clone(),
            email: email.get_untracked().trim().to_owned(),
            password: pw.clone(),
            setup_token: setup.then(|| Sensitive::new(token.get_untracked().trim())),
        };
        async move {
            let result = async move {
                api::register(&req).await?;
                // Registering does not sign in: do it with the same password.
                api::login(&LoginRequest {
                    username,
                    password: pw,
                })
                .await
            }
            .await;
            match result {
                Ok(res) => {
                    password.set(String::new());
                    token.set(String::new());
                    auth.user.set(res.user);
                }
                Err(e) => show_error(&e, note, Some(fields)),
            }
        }
    });
    view! {
        <form class="stack" aria-label=if setup { "Create the administrator" } else { "Register" } on:submit=move |ev| {
            ev.prevent_default();
            note.set(None);
            fields.set(BTreeMap::new());
            submit.dispatch(());
        }>
            <Show when=move || setup>
                <TextField id="reg-token" label="Setup token" name="setup_token" value=token
                    fields=fields autofocus=true />
            </Show>
            <TextField id="reg-username" label="Username" name="username" value=username fields=fields
                autocomplete="username" hint="3-32 letters, digits, dots, dashes or underscores." />
            <TextField id="reg-email" label="Email" name="email" value=email fields=fields kind="email"
                autocomplete="email" />
            <TextField id="reg-password" label="Password" name="password" value=password fields=fields
                kind="password" autocomplete="new-password" hint="At least 12 characters." />
            <Note note=note />
            <button type="submit" disabled=move || submit.pending().get()>
                {if setup { "Create the administrator" } else { "Create my account" }}
            </button>
        </form>
    }
}

/// `/login/2fa`: the second step. Submits by itself at six digits.
#[component]
pub(crate) fn VerifyTwoFactor() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let navigate = use_navigate();
    let code = RwSignal::new(String::new());
    let recovery = RwSignal::new(false);
    let note = RwSignal::new(None::<String>);
    let fields: Fields = RwSignal::new(BTreeMap::new());
    let submit = Action::new_local(move |c: &String| {
        let navigate = navigate.clone();
        let req = CodeRequest {
            code: Sensitive::new(c.clone()),
        };
        async move {
            let result = async move { api::verify_two_factor(&req).await }.await;
            code.set(String::new());
            match result {
                Ok(res) => {
                    auth.user.set(res.user);
                    navigate("/", Default::default());
                }
                Err(e) => {
                    // The pending sign-in expired or ran out of tries.
                    if e.status == 401 && e.message.contains("sign in again") {
                        navigate("/login", Default::default());
                    }
                    show_error(&e, note, Some(fields));
                }
            }
        }
    });
    // Six digits typed (or pasted): send them.
    Effect::new(move |_| {
        let c = code.get();
        if !recovery.get_untracked()
            && c.len() == 6
            && c.bytes().all(|b| b.is_ascii_digit())
            && !submit.pending().get_untracked()
        {
            note.set(None);
            submit.dispatch(c);
        }
    });
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        note.set(None);
        let c = code.get_untracked().trim().to_owned();
        if !c.is_empty() {
            submit.dispatch(c);
        }
    };
    view! {
        <Page>
            <h1>"Two-factor authentication"</h1>
            <form class="stack" aria-label="Second step" on:submit=on_submit>
                {move || if recovery.get() {
                    view! {
                        <TextField id="verify-recovery" label="Recovery code" name="code" value=code
                            fields=fields autofocus=true hint="One of the codes you saved when you turned on 2FA." />
                    }.into_any()
                } else {
                    view! {
                        <TextField id="verify-code" label="Code from your authenticator app" name="code"
                            value=code fields=fields inputmode="numeric" autocomplete="one-time-code"
                            autofocus=true hint="Six digits; it is sent as soon as you type the last one." />
                    }.into_any()
                }}
                <Note note=note />
                <button type="submit" disabled=move || submit.pending().get()>"Verify"</button>
                <button type="button" class="link" on:click=move |_| {
                    recovery.update(|r| *r = !*r);
                    code.set(String::new());
                    note.set(None);
                }>
                    {move || if recovery.get() { "Use the authenticator app instead" } else { "Use a recovery code" }}
                </button>
                <a href="/login">"Start again"</a>
            </form>
        </Page>
    }
}
