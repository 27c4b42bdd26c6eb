//! `/settings`: the settings JSON (`/api/indicators`) as forms, one per
//! group, walked from the JSON itself so every group and field the server
//! has shows up. Saving sends an RFC 7396 merge patch of the groups on the
//! page; the server's 422 names each bad field by its JSON path
//! (`indicators.rsi.period`), and its message shows at that field.

use std::collections::BTreeMap;

use leptos::prelude::*;
use serde_json::{Map, Value};

use crate::api;
use crate::components::{Loading, Note, confirmed, error_fallback, show_error};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Int,
    Float,
    Text,
    /// A string or null (empty is null).
    OptText,
    Choice(&'static [&'static str]),
    /// `auto_trade.account_id`: one of the user's trading accounts, or none.
    Account,
}

#[derive(Clone)]
struct Field {
    path: String,
    kind: Kind,
    text: RwSignal<String>,
    on: RwSignal<bool>,
}

#[derive(Clone)]
enum Node {
    Group { path: String, children: Vec<Node> },
    Field(Field),
}

fn choices(path: &str) -> Option<&'static [&'static str]> {
    Some(match path {
        "signal.mode" => &["any", "majority", "unanimous"],
        "data.feed" => &["iex", "sip"],
        "execution.order_type" => &["market"],
        "execution.time_in_force" => &["day", "gtc", "opg", "cls", "ioc", "fok"],
        _ => return None,
    })
}

/// What a field means, where the name does not say it all.
fn hint(path: &str) -> Option<&'static str> {
    Some(match path {
        "signal.mode" => {
            "any: one rule is enough; majority: at least min agree; unanimous: every enabled rule."
        }
        "execution.position_size_pct" => "% of equity per position (0.1 to 100).",
        "data.timeframe" => "1Min…59Min, 1Hour…23Hour, 1Day, 1Week, 1Month…12Month.",
        "data.lookback_days" => "1 to 3650.",
        "schedule.interval_minutes" => "1 to 1440; used when there is no cron expression.",
        "schedule.cron" => "A 5-field cron expression in New York time, or empty.",
        "auto_trade.dry_run" => "Record decisions without sending orders.",
        "auto_trade.max_order_notional" => "Dollars, 1 to 10,000,000.",
        "auto_trade.max_orders_per_day" => "Per New York day and account, 1 to 1,000.",
        "auto_trade.max_daily_loss_pct" => {
            "No new buy once the day's loss passes this % (0.1 to 100)."
        }
        "auto_trade.account_id" => "The one account auto-trade trades on.",
        _ => return None,
    })
}

fn label(key: &str) -> String {
    let spaced = key.replace('_', " ");
    let spaced = spaced
        .replace(" pct", " %")
        .replace("rsi", "RSI")
        .replace("macd", "MACD")
        .replace("sma", "SMA")
        .replace("std dev", "standard deviations");
    let mut c = spaced.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn walk(path: &str, value: &Value) -> Node {
    match value {
        Value::Object(map) => Node::Group {
            path: path.to_owned(),
            children: map
                .iter()
                .map(|(k, v)| {
                    walk(
                        &if path.is_empty() {
                            k.clone()
                        } else {
                            format!("{path}.{k}")
                        },
                        v,
                    )
                })
                .collect(),
        },
        other => {
            let kind = if path == "auto_trade.account_id" {
                Kind::Account
            } else if let Some(c) = choices(path) {
                Kind::Choice(c)
            } else {
                match other {
                    Value::Bool(_) => Kind::Bool,
                    Value::Number(n) if n.is_f64() => Kind::Float,
                    Value::Number(_) => Kind::Int,
                    Value::Null => Kind::OptText,
                    _ => Kind::Text,
                }
            };
            let text = match other {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                v => v.to_string(),
            };
            Node::Field(Field {
                path: path.to_owned(),
                kind,
                text: RwSignal::new(text),
                on: RwSignal::new(other.as_bool().unwrap_or(false)),
            })
        }
    }
}

/// The field's value for the patch: numbers that do not parse are sent as
/// they are, so the server names the field.
fn value_of(f: &Field) -> Value {
    let text = f.text.get_untracked().trim().to_owned();
    match f.kind {
        Kind::Bool => Value::Bool(f.on.get_untracked()),
        Kind::Int => text
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| text.parse::<f64>().map(Value::from))
            .unwrap_or(Value::String(text)),
        Kind::Float => text
            .parse::<f64>()
            .map(Value::from)
            .unwrap_or(Value::String(text)),
        Kind::OptText if text.is_empty() => Value::Null,
        Kind::Account if text.is_empty() => Value::Null,
        Kind::Account => text
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or(Value::String(text)),
        _ => Value::String(text),
    }
}

fn collect(node: &Node, out: &mut Map<String, Value>) {
    match node {
        Node::Group { children, .. } => {
            for c in children {
                collect(c, out);
            }
        }
        Node::Field(f) => {
            let mut parts: Vec<&str> = f.path.split('.').collect();
            let Some(last) = parts.pop() else { return };
            let mut at = &mut *out;
            for p in parts {
                let entry = at
                    .entry(p.to_owned())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !entry.is_object() {
                    *entry = Value::Object(Map::new());
                }
                let Value::Object(m) = entry else { return };
                at = m;
            }
            at.insert(last.to_owned(), value_of(f));
        }
    }
}

fn dom_id(path: &str) -> String {
    format!("set-{}", path.replace('.', "-"))
}

type Errors = RwSignal<BTreeMap<String, String>>;

fn render(node: Node, errors: Errors, depth: usize) -> AnyView {
    match node {
        Node::Group { path, children } => {
            let title = label(path.rsplit('.').next().unwrap_or(&path));
            let err_path = path.clone();
            let error = move || errors.with(|e| e.get(&err_path).cloned());
            let inner = children
                .into_iter()
                .map(|c| render(c, errors, depth + 1))
                .collect_view();
            if depth == 0 {
                view! { <div class="stack">{inner}</div> }.into_any()
            } else {
                view! {
                    <fieldset class="group" data-path=path.clone()>
                        <legend>{title}</legend>
                        <p class="field-error">{error}</p>
                        <div class="grid-2">{inner}</div>
                    </fieldset>
                }
                .into_any()
            }
        }
        Node::Field(f) => field_view(f, errors),
    }
}

fn field_view(f: Field, errors: Errors) -> AnyView {
    let id = dom_id(&f.path);
    let err_id = format!("{id}-error");
    let path = f.path.clone();
    let error = move || errors.with(|e| e.get(&path).cloned());
    let invalid = {
        let error = error.clone();
        move || if error().is_some() { "true" } else { "false" }
    };
    let name = label(f.path.rsplit('.').next().unwrap_or(&f.path));
    let hint = hint(&f.path);
    let text = f.text;
    let control = match f.kind {
        Kind::Bool => {
            return view! {
                <div class="field check">
                    <input id=id.clone() type="checkbox" bind:checked=f.on aria-describedby=err_id.clone() />
                    <label for=id>{name}</label>
                    {hint.map(|h| view! { <p class="hint">{h}</p> })}
                    <p class="field-error" id=err_id>{error}</p>
                </div>
            }
            .into_any();
        }
        Kind::Choice(options) => view! {
            <select id=id.clone() aria-invalid=invalid aria-describedby=err_id.clone() bind:value=text>
                {options.iter().map(|o| view! { <option value=*o>{*o}</option> }).collect_view()}
            </select>
        }
        .into_any(),
        Kind::Account => view! {
            <AccountSelect id=id.clone() value=text err_id=err_id.clone() />
        }
        .into_any(),
        Kind::Int | Kind::Float => view! {
            <input id=id.clone() type="text" inputmode="decimal" autocomplete="off"
                aria-invalid=invalid aria-describedby=err_id.clone() bind:value=text />
        }
        .into_any(),
        Kind::Text | Kind::OptText => view! {
            <input id=id.clone() type="text" autocomplete="off"
                aria-invalid=invalid aria-describedby=err_id.clone() bind:value=text />
        }
        .into_any(),
    };
    view! {
        <div class="field">
            <label for=id>{name}</label>
            {control}
            {hint.map(|h| view! { <p class="hint">{h}</p> })}
            <p class="field-error" id=err_id>{error}</p>
        </div>
    }
    .into_any()
}

#[component]
fn AccountSelect(id: String, value: RwSignal<String>, err_id: String) -> impl IntoView {
    let accounts = crate::app::accounts_resource();
    view! {
        <select id=id aria-describedby=err_id bind:value=value>
            <option value="">"None"</option>
            {move || accounts.get().and_then(Result::ok).map(|l| l.accounts.into_iter().map(|a| {
                let v = a.id.to_string();
                let selected = value.get_untracked() == v;
                view! { <option value=v selected=selected>{format!("{} ({})", a.name, a.environment.as_str())}</option> }
            }).collect_view())}
        </select>
    }
}

/// A form over `groups` of the settings.
#[component]
pub(crate) fn SettingsForm(
    groups: &'static [&'static str],
    #[prop(default = "Save settings")] submit_label: &'static str,
) -> impl IntoView {
    let version = RwSignal::new(0u64);
    // Outlives the form, which is drawn anew from the saved settings.
    let saved = RwSignal::new(None::<String>);
    // A form holding the auto_trade group is drawn again when auto-trade
    // is switched off (the kill switch): saving the old form must not turn
    // it back on.
    let auto_trade_state = groups
        .contains(&"auto_trade")
        .then(use_context::<crate::pages::auto_trade::AutoTradeState>)
        .flatten();
    let settings = LocalResource::new(move || {
        version.track();
        if let Some(state) = auto_trade_state {
            state.on.track();
        }
        api::get_settings()
    });
    view! {
        <Transition fallback=|| view! { <Loading /> }>
            <ErrorBoundary fallback=error_fallback>
                {move || Suspend::new(async move {
                    settings.await.map(|s| {
                        let mut picked = Map::new();
                        for g in groups {
                            if let Some(v) = s.get(*g) {
                                picked.insert((*g).to_owned(), v.clone());
                            }
                        }
                        view! { <GroupsForm tree=walk("", &Value::Object(picked)) submit_label=submit_label saved=saved
                            on_saved=move || version.update(|v| *v += 1) /> }
                    })
                })}
            </ErrorBoundary>
        </Transition>
    }
}

#[component]
fn GroupsForm(
    tree: Node,
    submit_label: &'static str,
    saved: RwSignal<Option<String>>,
    on_saved: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let errors: Errors = RwSignal::new(BTreeMap::new());
    let note = RwSignal::new(None::<String>);
    let tree = StoredValue::new(tree);
    let save = Action::new_local(move |_: &()| {
        let mut patch = Map::new();
        tree.with_value(|t| collect(t, &mut patch));
        let patch = Value::Object(patch);
        async move {
            match confirmed(|| api::patch_settings(&patch)).await {
                Ok(_) => {
                    errors.set(BTreeMap::new());
                    note.set(None);
                    saved.set(Some("Saved.".to_owned()));
                    if let Some(a) = crate::pages::auto_trade::AutoTradeState::current() {
                        a.refresh();
                    }
                    on_saved();
                }
                Err(e) => {
                    saved.set(None);
                    show_error(&e, note, Some(errors));
                    // Focus the first bad field, so keyboard and screen
                    // reader users land on it.
                    if let Some(first) = e.fields.keys().next()
                        && let Some(el) = document().get_element_by_id(&dom_id(first))
                        && let Ok(el) = wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlElement>(el)
                    {
                        let _ = el.focus();
                    }
                }
            }
        }
    });
    view! {
        <form class="stack settings" aria-label="Settings" novalidate=true on:submit=move |ev| {
            ev.prevent_default();
            saved.set(None);
            save.dispatch(());
        }>
            {tree.with_value(|t| render(t.clone(), errors, 0))}
            <Note note=note />
            {move || saved.get().map(|s| view! { <p class="note ok" role="status">{s}</p> })}
            <button type="submit" disabled=move || save.pending().get()>{submit_label}</button>
        </form>
    }
}

#[component]
pub(crate) fn SettingsPage() -> impl IntoView {
    view! {
        <h1>"Indicator settings"</h1>
        <p>"The rules that make the signals, how they are combined, the bars they see and when the scheduler runs. Auto-trade has "
            <a href="/auto-trade">"its own page"</a> "."</p>
        <section class="card">
            <SettingsForm groups=&["indicators", "signal", "data", "schedule", "execution"] />
        </section>
    }
}
