//! `/watchlists`: several lists; add a symbol (checked here and by the
//! server, which names the asset), remove, rename, make default, delete.

use std::collections::BTreeMap;

use leptos::prelude::*;
use trader_api_types::signals::{
    AddSymbolRequest, CreateWatchlistRequest, UpdateWatchlistRequest, Watchlist,
};

use crate::api;
use crate::components::{
    ConfirmButton, Fields, Loading, Note, TextField, error_fallback, show_error, when,
};

/// `^[A-Z][A-Z0-9.]{0,9}$`, as the server checks it.
pub(crate) fn symbol_problem(s: &str) -> Option<&'static str> {
    if s.is_empty() {
        return Some("enter a symbol, e.g. AAPL");
    }
    if s.len() > 10 {
        return Some("a symbol has at most 10 characters");
    }
    if !s.starts_with(|c: char| c.is_ascii_uppercase()) {
        return Some("a symbol starts with a letter");
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '.')
    {
        return Some("a symbol has only letters, digits and dots");
    }
    None
}

#[component]
pub(crate) fn Watchlists() -> impl IntoView {
    let version = RwSignal::new(0u64);
    let lists = LocalResource::new(move || {
        version.track();
        api::list_watchlists()
    });
    let selected = RwSignal::new(None::<i64>);
    // Outlives the list card, which is drawn anew when the lists reload.
    let added = RwSignal::new(None::<String>);
    let refresh = move || version.update(|v| *v += 1);
    view! {
        <h1>"Watchlists"</h1>
        <Transition fallback=|| view! { <Loading /> }>
            <ErrorBoundary fallback=error_fallback>
                {move || Suspend::new(async move {
                    lists.await.map(|l| {
                        let chosen = selected
                            .get_untracked()
                            .filter(|id| l.watchlists.iter().any(|w| w.id == *id))
                            .or_else(|| l.watchlists.iter().find(|w| w.is_default).map(|w| w.id))
                            .or_else(|| l.watchlists.first().map(|w| w.id));
                        let current = l.watchlists.iter().find(|w| Some(w.id) == chosen).cloned();
                        view! {
                            <div class="tabs" role="tablist" aria-label="Your watchlists">
                                {l.watchlists.iter().map(|w| {
                                    let id = w.id;
                                    let label = if w.is_default { format!("{} (default)", w.name) } else { w.name.clone() };
                                    let on = Some(id) == chosen;
                                    view! {
                                        <button type="button" role="tab" aria-selected=on.to_string()
                                            class=if on { "active" } else { "" }
                                            on:click=move |_| { selected.set(Some(id)); refresh(); }>{label}</button>
                                    }
                                }).collect_view()}
                            </div>
                            {current.map(|w| view! { <ListCard list=w on_change=refresh done=added /> })}
                        }
                    })
                })}
            </ErrorBoundary>
        </Transition>
        <NewList on_created=move |id| { selected.set(Some(id)); refresh(); } />
    }
}

#[component]
fn ListCard(
    list: Watchlist,
    on_change: impl Fn() + Copy + Send + Sync + 'static,
    /// The last symbol added, with its name.
    done: RwSignal<Option<String>>,
) -> impl IntoView {
    let id = list.id;
    let symbol = RwSignal::new(String::new());
    let note = RwSignal::new(None::<String>);
    let fields: Fields = RwSignal::new(BTreeMap::new());
    let rename = RwSignal::new(list.name.clone());
    let add = Action::new_local(move |_: &()| {
        let s = symbol.get_untracked().trim().to_uppercase();
        async move {
            if let Some(p) = symbol_problem(&s) {
                fields.set(BTreeMap::from([("symbol".to_owned(), p.to_owned())]));
                note.set(None);
                return;
            }
            let req = AddSymbolRequest {
                symbol: s,
                name: None,
            };
            match api::add_symbol(id, &req).await {
                Ok(added) => {
                    symbol.set(String::new());
                    fields.set(BTreeMap::new());
                    note.set(None);
                    done.set(Some(match &added.name {
                        Some(n) => format!("Added {} ({n}).", added.symbol),
                        None => format!("Added {}.", added.symbol),
                    }));
                    on_change();
                }
                Err(e) => {
                    done.set(None);
                    show_error(&e, note, Some(fields));
                }
            }
        }
    });
    let change = Action::new_local(move |what: &u8| {
        let what = *what;
        let name = rename.get_untracked().trim().to_owned();
        async move {
            let result = match what {
                0 => api::update_watchlist(
                    id,
                    &UpdateWatchlistRequest {
                        name: Some(name),
                        is_default: false,
                    },
                )
                .await
                .map(drop),
                1 => api::update_watchlist(
                    id,
                    &UpdateWatchlistRequest {
                        name: None,
                        is_default: true,
                    },
                )
                .await
                .map(drop),
                _ => api::delete_watchlist(id).await,
            };
            match result {
                Ok(()) => on_change(),
                Err(e) => show_error(&e, note, Some(fields)),
            }
        }
    });
    let remove = Action::new_local(move |s: &String| {
        let s = s.clone();
        async move {
            match api::remove_symbol(id, &s).await {
                Ok(()) => on_change(),
                Err(e) => show_error(&e, note, None),
            }
        }
    });
    let name = list.name.clone();
    view! {
        <section class="card" aria-labelledby="list-title">
            <div class="card-head">
                <h2 id="list-title">{list.name.clone()} {list.is_default.then(|| view! { <span class="badge">"default"</span> })}</h2>
                <a href=format!("/signals?watchlist={id}")>"Signals for this list"</a>
            </div>
            <form class="row add-symbol" aria-label="Add a symbol" on:submit=move |ev| {
                ev.prevent_default();
                add.dispatch(());
            }>
                <TextField id="symbol-add" label="Symbol" name="symbol" value=symbol fields=fields
                    hint="Letters, digits and dots, e.g. AAPL or BRK.B." />
                <button type="submit" disabled=move || add.pending().get()>"Add symbol"</button>
            </form>
            <Note note=note />
            {move || done.get().map(|d| view! { <p class="note ok" role="status" data-testid="symbol-added">{d}</p> })}
            {if list.symbols.is_empty() {
                view! { <p class="empty">"No symbols on this list yet."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap" tabindex="0">
                        <table data-testid="symbols">
                            <thead><tr>
                                <th scope="col">"Symbol"</th><th scope="col">"Name"</th><th scope="col">"Added"</th>
                                <th scope="col"><span class="sr-only">"Action"</span></th>
                            </tr></thead>
                            <tbody>
                                {list.symbols.into_iter().map(|s| {
                                    let sym = s.symbol.clone();
                                    view! {
                                        <tr>
                                            <th scope="row"><a href=format!("/signals/{}", s.symbol)>{s.symbol.clone()}</a></th>
                                            <td>{s.name.clone().unwrap_or_default()}</td>
                                            <td>{when(&s.added_at)}</td>
                                            <td class="actions">
                                                <button type="button" class="danger" aria-label=format!("Remove: {sym}")
                                                    on:click=move |_| { remove.dispatch(sym.clone()); }>"Remove"</button>
                                            </td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
            <h3>"This list"</h3>
            <form class="row" aria-label="Rename the list" on:submit=move |ev| {
                ev.prevent_default();
                change.dispatch(0);
            }>
                <TextField id="list-rename" label="Name" name="name" value=rename fields=fields />
                <button type="submit" class="secondary">"Rename"</button>
            </form>
            <div class="row">
                {(!list.is_default).then(|| view! {
                    <button type="button" class="secondary" on:click=move |_| { change.dispatch(1); }>"Make default"</button>
                    <ConfirmButton label="Delete list" confirm="Really delete?" what=name.clone()
                        on_confirm=move || { change.dispatch(2); } />
                })}
            </div>
        </section>
    }
}

#[component]
fn NewList(on_created: impl Fn(i64) + Copy + Send + Sync + 'static) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let note = RwSignal::new(None::<String>);
    let fields: Fields = RwSignal::new(BTreeMap::new());
    let create = Action::new_local(move |_: &()| {
        let req = CreateWatchlistRequest {
            name: name.get_untracked().trim().to_owned(),
        };
        async move {
            match api::create_watchlist(&req).await {
                Ok(w) => {
                    name.set(String::new());
                    fields.set(BTreeMap::new());
                    note.set(None);
                    on_created(w.id);
                }
                Err(e) => show_error(&e, note, Some(fields)),
            }
        }
    });
    view! {
        <section class="card" aria-labelledby="new-list-title">
            <h2 id="new-list-title">"New list"</h2>
            <form class="row" aria-label="New list" on:submit=move |ev| {
                ev.prevent_default();
                create.dispatch(());
            }>
                <TextField id="list-new" label="Name" name="name" value=name fields=fields />
                <button type="submit" disabled=move || create.pending().get()>"Create list"</button>
            </form>
            <Note note=note />
        </section>
    }
}
