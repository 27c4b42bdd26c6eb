//! `/tokens`: personal access tokens for scripts.

use std::collections::BTreeMap;

use leptos::prelude::*;
use trader_api_types::auth::{CreateTokenRequest, CreatedToken, Token, TokenScope};

use crate::api;
use crate::components::{
    Fields, Loading, Note, OnceSecret, TextField, confirmed, error_fallback, show_error, when,
    when_opt,
};

#[component]
pub(crate) fn Tokens() -> impl IntoView {
    let tokens = LocalResource::new(api::list_tokens);
    let note = RwSignal::new(None::<String>);
    let revoke = Action::new_local(move |id: &i64| {
        let id = *id;
        async move {
            let result = async move { api::delete_token(id).await }.await;
            if let Err(e) = result {
                show_error(&e, note, None);
            }
            tokens.refetch();
        }
    });
    let row = move |t: Token| {
        let id = t.id;
        let label = format!("Revoke: {}", t.name);
        let scope = t
            .scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        view! {
            <tr>
                <td>{t.name.clone()}</td>
                <td>{scope}{if t.live { " (live)" } else { "" }}</td>
                <td>{when(&t.created_at)}</td>
                <td>{when(&t.expires_at)}</td>
                <td>{when_opt(t.last_used_at.as_ref(), "never")}</td>
                <td>
                    <button type="button" class="danger" aria-label=label
                        on:click=move |_| { revoke.dispatch(id); }>"Revoke"</button>
                </td>
            </tr>
        }
    };
    view! {
        <h1>"API tokens"</h1>
        <p>"Scripts use a token instead of a password: " <code>"Authorization: Bearer <token>"</code> "."</p>
        <CreateToken on_created=move || tokens.refetch() />
        <section class="card" aria-labelledby="tokens-title">
            <h2 id="tokens-title">"Your tokens"</h2>
            <Note note=note />
            <Transition fallback=|| view! { <Loading /> }>
                <ErrorBoundary fallback=error_fallback>
                    {move || Suspend::new(async move {
                        tokens.await.map(|list| {
                            if list.tokens.is_empty() {
                                return view! { <p class="empty">"No tokens yet."</p> }.into_any();
                            }
                            view! {
                                <div class="table-wrap">
                                    <table data-testid="tokens">
                                        <thead><tr>
                                            <th scope="col">"Name"</th><th scope="col">"Scope"</th>
                                            <th scope="col">"Created"</th><th scope="col">"Expires"</th>
                                            <th scope="col">"Last used"</th>
                                            <th scope="col"><span class="sr-only">"Action"</span></th>
                                        </tr></thead>
                                        <tbody>{list.tokens.into_iter().map(row).collect_view()}</tbody>
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

#[component]
fn CreateToken(on_created: impl Fn() + Clone + Send + Sync + 'static) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let scope = RwSignal::new("read".to_owned());
    let days = RwSignal::new("30".to_owned());
    let live = RwSignal::new(false);
    let note = RwSignal::new(None::<String>);
    let fields: Fields = RwSignal::new(BTreeMap::new());
    let created = RwSignal::new(None::<CreatedToken>);
    let submit = Action::new_local(move |_: &()| {
        let on_created = on_created.clone();
        let scope = TokenScope::parse(&scope.get_untracked()).unwrap_or(TokenScope::Read);
        let req = CreateTokenRequest {
            name: name.get_untracked().trim().to_owned(),
            scopes: vec![scope],
            expires_in_days: days.get_untracked().parse().unwrap_or(30),
            live: scope == TokenScope::Trade && live.get_untracked(),
        };
        async move {
            let result = async move { confirmed(|| api::create_token(&req)).await }.await;
            match result {
                Ok(t) => {
                    name.set(String::new());
                    fields.set(BTreeMap::new());
                    created.set(Some(t));
                    on_created();
                }
                Err(e) => show_error(&e, note, Some(fields)),
            }
        }
    });
    view! {
        <section class="card" aria-labelledby="new-token-title">
            <h2 id="new-token-title">"New token"</h2>
            <form class="stack" aria-label="New token" on:submit=move |ev| {
                ev.prevent_default();
                note.set(None);
                created.set(None);
                submit.dispatch(());
            }>
                <TextField id="token-name" label="Name" name="name" value=name fields=fields
                    hint="To recognise it by, e.g. the script's name." />
                <div class="field">
                    <label for="token-scope">"Scope"</label>
                    <select id="token-scope" name="scopes" bind:value=scope>
                        <option value="read">"read: look only"</option>
                        <option value="trade">"trade: also place and cancel orders"</option>
                    </select>
                </div>
                <div class="field">
                    <label for="token-days">"Expires after"</label>
                    <select id="token-days" name="expires_in_days" bind:value=days>
                        <option value="7">"7 days"</option>
                        <option value="30">"30 days"</option>
                        <option value="90">"90 days"</option>
                        <option value="365">"365 days"</option>
                    </select>
                    <p class="field-error">{move || fields.with(|f| f.get("expires_in_days").cloned())}</p>
                </div>
                <Show when=move || scope.get() == "trade">
                    <div class="field check">
                        <input id="token-live" type="checkbox" bind:checked=live />
                        <label for="token-live">"May also trade on live accounts (needs a fresh confirmation)"</label>
                    </div>
                </Show>
                <Note note=note />
                <button type="submit" disabled=move || submit.pending().get()>"Create token"</button>
            </form>
            {move || created.get().map(|t| view! {
                <OnceSecret title=format!("Token \u{201c}{}\u{201d}", t.info.name) secret=t.token.into_inner()
                    explanation="Copy it now: it is not shown again." />
            })}
        </section>
    }
}
