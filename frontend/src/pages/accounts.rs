//! `/accounts`: trading accounts. Add (the environments the server offers,
//! keys checked by the broker first, an explicit confirmation for live),
//! rename, replace the keys, activate, delete. The keys are never shown:
//! only their hint (the key id's last four characters).

use std::collections::BTreeMap;

use leptos::prelude::*;
use trader_api_types::auth::Sensitive;
use trader_api_types::broker::{
    CreateTradingAccountRequest, Environment, TradingAccount, UpdateTradingAccountRequest,
};

use crate::api;
use crate::components::{
    ConfirmButton, Fields, Loading, Note, TextField, confirmed, error_fallback, show_error, when,
    when_opt,
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Editing {
    Rename(i64),
    Keys(i64),
}

#[component]
pub(crate) fn Accounts() -> impl IntoView {
    let accounts = crate::app::accounts_resource();
    let note = RwSignal::new(None::<String>);
    let editing = RwSignal::new(None::<Editing>);
    let run = Action::new_local(move |a: &(i64, bool)| {
        let (id, delete) = *a;
        async move {
            let result = if delete {
                confirmed(|| api::delete_account(id)).await
            } else {
                api::activate_account(id).await.map(drop)
            };
            match result {
                Ok(()) => note.set(None),
                Err(e) => show_error(&e, note, None),
            }
            crate::app::accounts_changed();
        }
    });
    let row = move |a: TradingAccount| {
        let id = a.id;
        let name = a.name.clone();
        let env = a.environment;
        view! {
            <tr>
                <th scope="row">{a.name.clone()}</th>
                <td><span class=format!("badge env-{}", env.as_str())>{env.as_str()}</span></td>
                <td><code data-testid="key-hint">{format!("…{}", a.key_hint)}</code></td>
                <td>{if a.active { "active" } else { "" }}
                    {(!a.verified).then(|| view! { <span class="badge warn">"keys refused"</span> })}</td>
                <td>{when(&a.created_at)}</td>
                <td>{when_opt(a.last_verified_at.as_ref(), "never")}</td>
                <td class="actions">
                    {(!a.active).then(|| {
                        let label = format!("Activate: {name}");
                        view! { <button type="button" class="secondary" aria-label=label
                            on:click=move |_| { run.dispatch((id, false)); }>"Activate"</button> }
                    })}
                    <button type="button" class="secondary" aria-label=format!("Rename: {name}")
                        on:click=move |_| editing.set(Some(Editing::Rename(id)))>"Rename"</button>
                    <button type="button" class="secondary" aria-label=format!("Replace keys: {name}")
                        on:click=move |_| editing.set(Some(Editing::Keys(id)))>"Replace keys"</button>
                    <ConfirmButton label="Delete" confirm="Really delete?" what=name.clone()
                        on_confirm=move || { run.dispatch((id, true)); } />
                </td>
            </tr>
            {move || match editing.get() {
                Some(Editing::Rename(e)) if e == id => Some(view! {
                    <tr><td colspan="7"><EditAccount id=id environment=env keys=false editing=editing /></td></tr>
                }.into_any()),
                Some(Editing::Keys(e)) if e == id => Some(view! {
                    <tr><td colspan="7"><EditAccount id=id environment=env keys=true editing=editing /></td></tr>
                }.into_any()),
                _ => None,
            }}
        }
    };
    view! {
        <h1>"Trading accounts"</h1>
        <p>"Your Alpaca accounts. The keys are sealed on the server and never shown again: only the last four characters of the key id."</p>
        <section class="card" aria-labelledby="accounts-title">
            <h2 id="accounts-title">"Your accounts"</h2>
            <Note note=note />
            <Transition fallback=|| view! { <Loading /> }>
                <ErrorBoundary fallback=error_fallback>
                    {move || Suspend::new(async move {
                        accounts.await.map(|list| {
                            if list.accounts.is_empty() {
                                return view! { <p class="empty">"No trading accounts yet: add one below."</p> }.into_any();
                            }
                            view! {
                                <div class="table-wrap" tabindex="0">
                                    <table data-testid="accounts">
                                        <thead><tr>
                                            <th scope="col">"Name"</th><th scope="col">"Environment"</th>
                                            <th scope="col">"Key"</th><th scope="col">"State"</th>
                                            <th scope="col">"Added"</th><th scope="col">"Keys checked"</th>
                                            <th scope="col"><span class="sr-only">"Actions"</span></th>
                                        </tr></thead>
                                        <tbody>{list.accounts.into_iter().map(row).collect_view()}</tbody>
                                    </table>
                                </div>
                            }.into_any()
                        })
                    })}
                </ErrorBoundary>
            </Transition>
        </section>
        <AddAccount />
    }
}

#[component]
fn EditAccount(
    id: i64,
    environment: Environment,
    keys: bool,
    editing: RwSignal<Option<Editing>>,
) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let key_id = RwSignal::new(String::new());
    let secret = RwSignal::new(String::new());
    let live_ok = RwSignal::new(false);
    let note = RwSignal::new(None::<String>);
    let fields: Fields = RwSignal::new(BTreeMap::new());
    let is_live = environment == Environment::Live;
    let save = Action::new_local(move |_: &()| {
        let req = if keys {
            UpdateTradingAccountRequest {
                name: None,
                key_id: Some(Sensitive::new(key_id.get_untracked().trim().to_owned())),
                secret_key: Some(Sensitive::new(secret.get_untracked().trim().to_owned())),
                confirm_live: is_live && live_ok.get_untracked(),
            }
        } else {
            UpdateTradingAccountRequest {
                name: Some(name.get_untracked().trim().to_owned()),
                key_id: None,
                secret_key: None,
                confirm_live: false,
            }
        };
        async move {
            match confirmed(|| api::update_account(id, &req)).await {
                Ok(_) => {
                    editing.set(None);
                    crate::app::accounts_changed();
                }
                Err(e) => show_error(&e, note, Some(fields)),
            }
        }
    });
    view! {
        <form class="stack inline-form" aria-label=if keys { "Replace keys" } else { "Rename" }
            on:submit=move |ev| { ev.prevent_default(); save.dispatch(()); }>
            {if keys {
                view! {
                    <TextField id="edit-key-id" label="New key id" name="key_id" value=key_id fields=fields autofocus=true />
                    <TextField id="edit-secret" label="New secret key" name="secret_key" value=secret fields=fields kind="password" autocomplete="new-password" />
                    {is_live.then(|| view! {
                        <div class="field check">
                            <input id="edit-live-ok" type="checkbox" bind:checked=live_ok />
                            <label for="edit-live-ok">"Yes, these are the keys of a LIVE account (real money)"</label>
                        </div>
                    })}
                }.into_any()
            } else {
                view! { <TextField id="edit-name" label="New name" name="name" value=name fields=fields autofocus=true /> }.into_any()
            }}
            <Note note=note />
            <div class="row">
                <button type="submit" disabled=move || save.pending().get()>"Save"</button>
                <button type="button" class="secondary" on:click=move |_| editing.set(None)>"Cancel"</button>
            </div>
        </form>
    }
}

#[component]
fn AddAccount() -> impl IntoView {
    let meta = LocalResource::new(api::meta);
    let name = RwSignal::new(String::new());
    let env = RwSignal::new(String::new());
    let key_id = RwSignal::new(String::new());
    let secret = RwSignal::new(String::new());
    let live_ok = RwSignal::new(false);
    let note = RwSignal::new(None::<String>);
    let done = RwSignal::new(None::<String>);
    let fields: Fields = RwSignal::new(BTreeMap::new());
    // The first environment offered, once known.
    Effect::new(move |_| {
        if let Some(Ok(m)) = meta.get()
            && env.get_untracked().is_empty()
            && let Some(first) = m.environments.first()
        {
            env.set(first.as_str().to_owned());
        }
    });
    let add = Action::new_local(move |_: &()| {
        let environment = Environment::parse(&env.get_untracked()).unwrap_or(Environment::Paper);
        let req = CreateTradingAccountRequest {
            name: name.get_untracked().trim().to_owned(),
            environment,
            key_id: Sensitive::new(key_id.get_untracked().trim().to_owned()),
            secret_key: Sensitive::new(secret.get_untracked().trim().to_owned()),
            confirm_live: environment == Environment::Live && live_ok.get_untracked(),
        };
        async move {
            match confirmed(|| api::create_account(&req)).await {
                Ok(a) => {
                    name.set(String::new());
                    key_id.set(String::new());
                    secret.set(String::new());
                    live_ok.set(false);
                    fields.set(BTreeMap::new());
                    note.set(None);
                    done.set(Some(format!(
                        "Added \u{201c}{}\u{201d}: the broker accepted the keys.",
                        a.name
                    )));
                    crate::app::accounts_changed();
                }
                Err(e) => show_error(&e, note, Some(fields)),
            }
        }
    });
    view! {
        <section class="card" aria-labelledby="add-account-title">
            <h2 id="add-account-title">"Add an account"</h2>
            <form class="stack" aria-label="Add an account" on:submit=move |ev| {
                ev.prevent_default();
                done.set(None);
                note.set(None);
                add.dispatch(());
            }>
                <TextField id="acct-name" label="Name" name="name" value=name fields=fields hint="To tell your accounts apart, e.g. \u{201c}Paper\u{201d}." />
                <div class="field">
                    <label for="acct-env">"Environment"</label>
                    <select id="acct-env" name="environment" bind:value=env>
                        {move || meta.get().and_then(Result::ok).map(|m| {
                            let demo = m.demo;
                            m.environments.into_iter().map(|e| {
                                let label = match e {
                                    Environment::Paper => "paper: Alpaca paper trading (play money)",
                                    Environment::Live => "live: Alpaca live trading (real money)",
                                    Environment::Sim => if demo { "sim: the built-in simulator (demo)" } else { "sim: the simulator" },
                                };
                                view! { <option value=e.as_str()>{label}</option> }
                            }).collect_view()
                        })}
                    </select>
                    <p class="field-error">{move || fields.with(|f| f.get("environment").cloned())}</p>
                </div>
                <TextField id="acct-key" label="API key id" name="key_id" value=key_id fields=fields />
                <TextField id="acct-secret" label="API secret key" name="secret_key" value=secret fields=fields kind="password" autocomplete="new-password" />
                <Show when=move || env.get() == "live">
                    <p class="note warn">"A live account trades real money. It needs two-factor authentication and a fresh confirmation."</p>
                    <div class="field check">
                        <input id="acct-live-ok" type="checkbox" bind:checked=live_ok />
                        <label for="acct-live-ok">"Yes, add a LIVE account"</label>
                    </div>
                    <p class="field-error">{move || fields.with(|f| f.get("confirm_live").cloned())}</p>
                </Show>
                <Note note=note />
                <button type="submit" disabled=move || add.pending().get() || (env.get() == "live" && !live_ok.get())>"Add account"</button>
                {move || done.get().map(|d| view! { <p class="note ok" role="status">{d}</p> })}
            </form>
        </section>
    }
}
