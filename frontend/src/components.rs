//! Small pieces the pages share: form fields with their error, error notes,
//! copy and download of once-only secrets, time formatting, and the
//! in-place confirmation ("reauth") dialog.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Timelike, Utc};
use futures_channel::oneshot;
use leptos::prelude::*;
use trader_api_types::ErrorCode;
use trader_api_types::auth::{ReauthRequest, Sensitive};

use crate::api::{self, ApiError, ApiResult};

/// Per-field error messages of a form, keyed by the request field's name.
pub(crate) type Fields = RwSignal<BTreeMap<String, String>>;

/// Shows a failed call: the friendly message, and its field errors on the
/// form's fields.
pub(crate) fn show_error(err: &ApiError, note: RwSignal<Option<String>>, fields: Option<Fields>) {
    // Signed out meanwhile (session ended elsewhere, or too many wrong
    // confirmations): the shell goes to the sign-in page.
    if err.is(ErrorCode::Unauthenticated)
        && let Some(auth) = crate::app::Auth::current()
    {
        auth.user.set(None);
    }
    if let Some(f) = fields {
        f.set(err.fields.clone());
    }
    note.set(Some(err.friendly()));
}

/// A labelled input bound to `value`, with its error under it.
#[component]
pub(crate) fn TextField(
    /// The element id (unique on the page).
    id: &'static str,
    label: &'static str,
    /// The request field whose error shows here.
    name: &'static str,
    value: RwSignal<String>,
    #[prop(optional)] fields: Option<Fields>,
    #[prop(default = "text")] kind: &'static str,
    #[prop(default = "off")] autocomplete: &'static str,
    #[prop(optional)] inputmode: Option<&'static str>,
    #[prop(optional)] hint: Option<&'static str>,
    #[prop(optional)] autofocus: bool,
    #[prop(default = true)] required: bool,
) -> impl IntoView {
    let error = move || fields.and_then(|f| f.with(|m| m.get(name).cloned()));
    let err_id = format!("{id}-error");
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <input
                id=id
                name=name
                type=kind
                autocomplete=autocomplete
                inputmode=inputmode
                autofocus=autofocus
                required=required
                aria-invalid=move || if error().is_some() { "true" } else { "false" }
                aria-describedby=err_id.clone()
                bind:value=value
            />
            {hint.map(|h| view! { <p class="hint">{h}</p> })}
            <p class="field-error" id=err_id>{error}</p>
        </div>
    }
}

/// A form-level error (or success) note, announced to screen readers.
#[component]
pub(crate) fn Note(
    note: RwSignal<Option<String>>,
    #[prop(default = "error")] kind: &'static str,
) -> impl IntoView {
    view! {
        <Show when=move || note.with(Option::is_some)>
            <p class=format!("note {kind}") role="alert">{move || note.get()}</p>
        </Show>
    }
}

/// The fallback of an `ErrorBoundary`: what failed, and a retry hint.
pub(crate) fn error_fallback(errors: ArcRwSignal<leptos::error::Errors>) -> impl IntoView {
    view! {
        <div class="note error" role="alert">
            <p>"This could not be loaded."</p>
            <ul>
                {move || {
                    errors
                        .get()
                        .into_iter()
                        .map(|(_, e)| view! { <li>{e.to_string()}</li> })
                        .collect_view()
                }}
            </ul>
            <p>"Reload the page to try again."</p>
        </div>
    }
}

/// The loading state of a list or a page.
#[component]
pub(crate) fn Loading() -> impl IntoView {
    view! { <p class="loading" aria-live="polite">"Loading…"</p> }
}

/// A timestamp for people (UTC, to the minute).
pub(crate) fn when(t: &DateTime<Utc>) -> String {
    // By hand: chrono's strftime machinery costs the wasm ~10 KB.
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute()
    )
}

pub(crate) fn when_opt(t: Option<&DateTime<Utc>>, never: &'static str) -> String {
    t.map_or_else(|| never.to_owned(), when)
}

/// Copies `text` to the clipboard and says so.
#[component]
pub(crate) fn CopyButton(
    text: String,
    #[prop(default = "Copy")] label: &'static str,
) -> impl IntoView {
    let copied = RwSignal::new(false);
    let on_click = move |_| {
        if let Some(window) = web_sys::window() {
            let _ = window.navigator().clipboard().write_text(&text);
            copied.set(true);
        }
    };
    view! {
        <button type="button" class="secondary" on:click=on_click>
            {move || if copied.get() { "Copied" } else { label }}
        </button>
    }
}

/// A link that downloads `text` as a file (a `data:` URL; no script).
#[component]
pub(crate) fn DownloadLink(text: String, filename: &'static str) -> impl IntoView {
    let href = format!(
        "data:text/plain;charset=utf-8,{}",
        String::from(js_sys::encode_uri_component(&text))
    );
    view! {
        <a class="button secondary" href=href download=filename>
            "Download"
        </a>
    }
}

/// Recovery codes, shown once, with copy and download.
#[component]
pub(crate) fn RecoveryCodeList(codes: Vec<Sensitive>) -> impl IntoView {
    let text = codes
        .iter()
        .map(|c| c.expose().to_owned())
        .collect::<Vec<_>>()
        .join("\n");
    view! {
        <section class="card once" aria-labelledby="codes-title">
            <h3 id="codes-title">"Your recovery codes"</h3>
            <p>
                "Each code signs you in once if you lose your authenticator. "
                "They are shown only now: copy or download them and keep them safe."
            </p>
            <ul class="codes" data-testid="recovery-codes">
                {codes
                    .into_iter()
                    .map(|c| view! { <li><code>{c.into_inner()}</code></li> })
                    .collect_view()}
            </ul>
            <div class="row">
                <CopyButton text=text.clone() label="Copy codes" />
                <DownloadLink text=text filename="alpaca-trader-recovery-codes.txt" />
            </div>
        </section>
    }
}

/// A secret shown once (token, temporary password) with a copy button.
#[component]
pub(crate) fn OnceSecret(
    title: String,
    secret: String,
    explanation: &'static str,
) -> impl IntoView {
    view! {
        <section class="card once" role="status">
            <h3>{title}</h3>
            <p>{explanation}</p>
            <p>
                <code class="secret" data-testid="secret">{secret.clone()}</code>
            </p>
            <CopyButton text=secret />
        </section>
    }
}

thread_local! {
    /// The app's one confirmation dialog, for actions (which run outside
    /// the component tree's context).
    static REAUTH: std::cell::Cell<Option<Reauth>> = const { std::cell::Cell::new(None) };
}

/// The confirmation dialog's state: open while an action waits for it.
#[derive(Clone, Copy)]
pub(crate) struct Reauth {
    open: RwSignal<bool>,
    waiter: StoredValue<Option<oneshot::Sender<bool>>, LocalStorage>,
}

impl Reauth {
    /// Makes the app's dialog state (once, in `App`).
    pub(crate) fn new() -> Self {
        let reauth = Self {
            open: RwSignal::new(false),
            waiter: StoredValue::new_local(None),
        };
        REAUTH.with(|r| r.set(Some(reauth)));
        reauth
    }

    fn finish(&self, ok: bool) {
        self.open.set(false);
        if let Some(tx) = self.waiter.try_update_value(Option::take).flatten() {
            let _ = tx.send(ok);
        }
    }

    /// Runs `call`; when it answers `reauth_required`, asks for the
    /// password or a code in the dialog and runs it once more.
    pub(crate) async fn run<T, F, Fut>(self, call: F) -> ApiResult<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = ApiResult<T>>,
    {
        match call().await {
            Err(e) if e.is(ErrorCode::ReauthRequired) => {
                let (tx, rx) = oneshot::channel();
                self.waiter.set_value(Some(tx));
                self.open.set(true);
                if rx.await.unwrap_or(false) {
                    call().await
                } else {
                    Err(ApiError {
                        status: 403,
                        code: Some(ErrorCode::ReauthRequired),
                        message: "not confirmed".to_owned(),
                        fields: BTreeMap::new(),
                    })
                }
            }
            other => other,
        }
    }
}

/// Runs `call` through the page's confirmation dialog (see [`Reauth::run`]).
pub(crate) async fn confirmed<T, F, Fut>(call: F) -> ApiResult<T>
where
    F: Fn() -> Fut,
    Fut: Future<Output = ApiResult<T>>,
{
    match REAUTH.with(std::cell::Cell::get) {
        Some(reauth) => reauth.run(call).await,
        None => call().await,
    }
}

/// The confirmation dialog: the password, or a 2FA code.
#[component]
pub(crate) fn ReauthDialog() -> impl IntoView {
    let reauth = expect_context::<Reauth>();
    let secret = RwSignal::new(String::new());
    let use_code = RwSignal::new(false);
    let note = RwSignal::new(None::<String>);
    let fields: Fields = RwSignal::new(BTreeMap::new());
    let submit = Action::new_local(move |_: &()| {
        let value = Sensitive::new(secret.get_untracked());
        let req = if use_code.get_untracked() {
            ReauthRequest {
                password: None,
                code: Some(value),
            }
        } else {
            ReauthRequest {
                password: Some(value),
                code: None,
            }
        };
        async move {
            let result = async move { api::reauth(&req).await.map(drop) }.await;
            match result {
                Ok(()) => {
                    secret.set(String::new());
                    note.set(None);
                    reauth.finish(true);
                }
                Err(e) => show_error(&e, note, Some(fields)),
            }
        }
    });
    let cancel = move |_| {
        secret.set(String::new());
        note.set(None);
        reauth.finish(false);
    };
    view! {
        <Show when=move || reauth.open.get()>
            <div class="overlay">
                <div class="dialog card" role="dialog" aria-modal="true" aria-labelledby="reauth-title">
                    <h2 id="reauth-title">"Confirm it is you"</h2>
                    <p>"This change needs a fresh confirmation (it lasts 10 minutes)."</p>
                    <form on:submit=move |ev| {
                        ev.prevent_default();
                        submit.dispatch(());
                    }>
                        {move || {
                            if use_code.get() {
                                view! {
                                    <TextField id="reauth-code" label="Authenticator code" name="code"
                                        value=secret fields=fields inputmode="numeric"
                                        autocomplete="one-time-code" autofocus=true />
                                }
                                    .into_any()
                            } else {
                                view! {
                                    <TextField id="reauth-password" label="Password" name="password"
                                        value=secret fields=fields kind="password"
                                        autocomplete="current-password" autofocus=true />
                                }
                                    .into_any()
                            }
                        }}
                        <Note note=note />
                        <div class="row">
                            <button type="submit" disabled=move || submit.pending().get()>"Confirm"</button>
                            <button type="button" class="secondary" on:click=cancel>"Cancel"</button>
                            <button type="button" class="link" on:click=move |_| use_code.update(|c| *c = !*c)>
                                {move || if use_code.get() { "Use my password instead" } else { "Use an authenticator code instead" }}
                            </button>
                        </div>
                    </form>
                </div>
            </div>
        </Show>
    }
}

/// A decimal string as money: `$1,234.56` (two decimals, thousands
/// separated); the string itself when it is not a number.
pub(crate) fn money(s: &str) -> String {
    match s.trim().parse::<f64>() {
        Ok(v) => {
            let sign = if v < 0.0 { "-" } else { "" };
            format!("{sign}${}", grouped(v.abs(), 2))
        }
        Err(_) => s.to_owned(),
    }
}

pub(crate) fn money_opt(s: Option<&str>) -> String {
    s.map_or_else(|| "–".to_owned(), money)
}

/// `v` with `decimals` decimals and thousands separators.
pub(crate) fn grouped(v: f64, decimals: usize) -> String {
    let text = format!("{v:.decimals$}");
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// A quantity as the broker sends it, without trailing zeros.
pub(crate) fn qty(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s.to_owned()
    }
}

/// `pos`, `neg` or `flat`: the colour class of a profit or loss.
pub(crate) fn pl_class(s: Option<&str>) -> &'static str {
    match s.and_then(|s| s.trim().parse::<f64>().ok()) {
        Some(v) if v > 0.0 => "pos",
        Some(v) if v < 0.0 => "neg",
        _ => "flat",
    }
}

/// A profit or loss with its sign spelled out (colour is not the only cue).
pub(crate) fn signed_money(s: Option<&str>) -> String {
    match s.and_then(|s| s.trim().parse::<f64>().ok()) {
        Some(v) if v > 0.0 => format!("+${}", grouped(v, 2)),
        Some(v) if v < 0.0 => format!("−${}", grouped(-v, 2)),
        Some(_) => "$0.00".to_owned(),
        None => "–".to_owned(),
    }
}

/// A fraction (0.0123) or a percentage string as `+1.23 %`.
pub(crate) fn signed_pct(v: Option<f64>) -> String {
    match v {
        Some(v) if v > 0.0 => format!("+{v:.2} %"),
        Some(v) if v < 0.0 => format!("−{:.2} %", -v),
        Some(_) => "0.00 %".to_owned(),
        None => "–".to_owned(),
    }
}

/// A button that asks once more before it acts: the first press turns it
/// into "`confirm`" (and a Cancel), the second runs `on_confirm`.
#[component]
pub(crate) fn ConfirmButton(
    label: &'static str,
    confirm: &'static str,
    /// What it acts on, for the accessible name (`Close: AAPL`).
    #[prop(into)]
    what: String,
    on_confirm: impl Fn() + Send + Sync + 'static,
    #[prop(optional)] disabled: Option<Signal<bool>>,
) -> impl IntoView {
    let asking = RwSignal::new(false);
    let first = format!("{label}: {what}");
    let second = format!("{confirm}: {what}");
    let cancel_label = format!("Keep: {what}");
    let disabled = move || disabled.is_some_and(|d| d.get());
    let on_confirm = Callback::new(move |()| on_confirm());
    view! {
        <Show
            when=move || asking.get()
            fallback=move || {
                let first = first.clone();
                view! {
                    <button type="button" class="danger" aria-label=first disabled=disabled
                        on:click=move |_| asking.set(true)>{label}</button>
                }
            }
        >
            <button type="button" class="danger strong" aria-label=second.clone()
                on:click=move |_| { asking.set(false); on_confirm.run(()); }>{confirm}</button>
            <button type="button" class="secondary" aria-label=cancel_label.clone()
                on:click=move |_| asking.set(false)>"Keep"</button>
        </Show>
    }
}
