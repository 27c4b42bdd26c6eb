//! `/admin` (users) and `/admin/audit` (everyone's audit log), for admins.
//! Every change needs a confirmation from the last 10 minutes: the reauth
//! dialog asks for it in place.

use std::collections::BTreeMap;

use leptos::prelude::*;
use trader_api_types::auth::{
    AdminUser, CreateUserRequest, UpdateUserRequest, UserWithTemporaryPassword,
};
use trader_api_types::{ErrorCode, Role, UserId};

use crate::api::{self, ApiResult};
use crate::app::{Auth, Forbidden};
use crate::components::{
    Fields, Loading, Note, OnceSecret, TextField, confirmed, error_fallback, show_error, when_opt,
};
use crate::pages::security::AuditLog;

/// What an admin did to a user.
#[derive(Clone)]
enum Change {
    Active(UserId, bool),
    Role(UserId, Role),
    ResetPassword(UserId),
    ResetTwoFactor(UserId),
    Delete(UserId),
}

/// Admins only; everyone else sees the 403 page.
fn admin_only(view: impl Fn() -> AnyView + Send + Sync + 'static) -> impl IntoView {
    let auth = expect_context::<Auth>();
    move || {
        if auth
            .user
            .with(|u| u.as_ref().is_some_and(|u| u.role == Role::Admin))
        {
            view()
        } else {
            view! { <Forbidden /> }.into_any()
        }
    }
}

#[component]
pub(crate) fn AllAudit() -> impl IntoView {
    admin_only(|| view! { <h1>"Audit log"</h1> <AuditLog all=true /> }.into_any())
}

#[component]
pub(crate) fn Users() -> impl IntoView {
    admin_only(|| view! { <UserAdmin /> }.into_any())
}

#[component]
fn UserAdmin() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let me = auth.user.with_untracked(|u| u.as_ref().map(|u| u.id));
    let users = LocalResource::new(api::list_users);
    let note = RwSignal::new(None::<String>);
    let temp = RwSignal::new(None::<UserWithTemporaryPassword>);
    let deleting = RwSignal::new(None::<UserId>);
    let change = Action::new_local(move |c: &Change| {
        let c = c.clone();
        async move {
            let result = confirmed(|| {
                let c = c.clone();
                async move {
                    match c {
                        Change::Active(id, active) => api::update_user(
                            id,
                            &UpdateUserRequest {
                                active: Some(active),
                                role: None,
                            },
                        )
                        .await
                        .map(|_| None),
                        Change::Role(id, role) => api::update_user(
                            id,
                            &UpdateUserRequest {
                                active: None,
                                role: Some(role),
                            },
                        )
                        .await
                        .map(|_| None),
                        Change::ResetPassword(id) => api::reset_user_password(id).await.map(Some),
                        Change::ResetTwoFactor(id) => {
                            api::reset_user_two_factor(id).await.map(|_| None)
                        }
                        Change::Delete(id) => api::delete_user(id).await.map(|()| None),
                    }
                }
            })
            .await;
            deleting.set(None);
            match result {
                Ok(Some(t)) => temp.set(Some(t)),
                Ok(None) => {}
                Err(e) => show_error(&e, note, None),
            }
            users.refetch();
        }
    });
    let run = move |c: Change| {
        note.set(None);
        temp.set(None);
        change.dispatch(c);
    };
    let row = move |u: AdminUser| {
        let id = u.id;
        let is_me = Some(id) == me;
        let name = u.username.clone();
        let other_role = if u.role == Role::Admin {
            Role::User
        } else {
            Role::Admin
        };
        let active = u.active;
        view! {
            <tr>
                <td>{u.username.clone()}</td>
                <td>{u.email.clone()}</td>
                <td>{u.role.as_str()}</td>
                <td>{if u.active { "active" } else { "disabled" }}</td>
                <td>{if u.two_factor_enabled { "on" } else { "off" }}</td>
                <td>{if u.must_change_password { "must change password" } else { "" }}</td>
                <td>{when_opt(u.last_login_at.as_ref(), "never")}</td>
                <td class="actions">
                    {if is_me {
                        view! { <span class="badge">"You"</span> }.into_any()
                    } else {
                        let really = format!("Really delete?: {name}");
                        let delete = format!("Delete: {name}");
                        view! {
                            <button type="button" class="secondary" aria-label=format!("{}: {name}", if active { "Disable" } else { "Enable" })
                                on:click=move |_| run(Change::Active(id, !active))>
                                {if active { "Disable" } else { "Enable" }}
                            </button>
                            <button type="button" class="secondary" aria-label=format!("Make {other_role}: {name}")
                                on:click=move |_| run(Change::Role(id, other_role))>
                                {format!("Make {other_role}")}
                            </button>
                            <button type="button" class="secondary" aria-label=format!("Reset password: {name}")
                                on:click=move |_| run(Change::ResetPassword(id))>"Reset password"</button>
                            <button type="button" class="secondary" aria-label=format!("Reset 2FA: {name}")
                                on:click=move |_| run(Change::ResetTwoFactor(id))>"Reset 2FA"</button>
                            {move || if deleting.get() == Some(id) {
                                view! {
                                    <button type="button" class="danger" aria-label=really.clone()
                                        on:click=move |_| run(Change::Delete(id))>"Really delete?"</button>
                                }.into_any()
                            } else {
                                view! {
                                    <button type="button" class="danger" aria-label=delete.clone()
                                        on:click=move |_| deleting.set(Some(id))>"Delete"</button>
                                }.into_any()
                            }}
                        }.into_any()
                    }}
                </td>
            </tr>
        }
    };
    view! {
        <h1>"Users"</h1>
        <CreateUser on_created=move |t| { temp.set(Some(t)); users.refetch(); } />
        {move || temp.get().map(|t| view! {
            <OnceSecret title=format!("Temporary password of {}", t.user.username)
                secret=t.temporary_password.into_inner()
                explanation="Give it to them privately; they must choose their own password when they sign in. It is not shown again." />
        })}
        <section class="card" aria-labelledby="users-title">
            <h2 id="users-title">"Everyone"</h2>
            <Note note=note />
            <Transition fallback=|| view! { <Loading /> }>
                <ErrorBoundary fallback=error_fallback>
                    {move || Suspend::new(async move {
                        users.await.map(|list| {
                            if list.users.is_empty() {
                                return view! { <p class="empty">"No users."</p> }.into_any();
                            }
                            view! {
                                <div class="table-wrap">
                                    <table data-testid="users">
                                        <thead><tr>
                                            <th scope="col">"User"</th><th scope="col">"Email"</th>
                                            <th scope="col">"Role"</th><th scope="col">"State"</th>
                                            <th scope="col">"2FA"</th><th scope="col">"Password"</th>
                                            <th scope="col">"Last sign-in"</th>
                                            <th scope="col"><span class="sr-only">"Actions"</span></th>
                                        </tr></thead>
                                        <tbody>{list.users.into_iter().map(row).collect_view()}</tbody>
                                    </table>
                                </div>
                            }.into_any()
                        }).or_else(|e| if e.is(ErrorCode::TwoFactorSetupRequired) {
                            Ok(view! {
                                <p class="note warn">"Admins manage users only with two-factor authentication on. "
                                    <a href="/security/2fa">"Turn it on"</a> "."</p>
                            }.into_any())
                        } else { ApiResult::Err(e) })
                    })}
                </ErrorBoundary>
            </Transition>
        </section>
    }
}

#[component]
fn CreateUser(
    on_created: impl Fn(UserWithTemporaryPassword) + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let username = RwSignal::new(String::new());
    let email = RwSignal::new(String::new());
    let role = RwSignal::new("user".to_owned());
    let note = RwSignal::new(None::<String>);
    let fields: Fields = RwSignal::new(BTreeMap::new());
    let submit = Action::new_local(move |_: &()| {
        let on_created = on_created.clone();
        let req = CreateUserRequest {
            username: username.get_untracked().trim().to_owned(),
            email: email.get_untracked().trim().to_owned(),
            role: Some(if role.get_untracked() == "admin" {
                Role::Admin
            } else {
                Role::User
            }),
        };
        async move {
            let result = async move { confirmed(|| api::create_user(&req)).await }.await;
            match result {
                Ok(t) => {
                    username.set(String::new());
                    email.set(String::new());
                    fields.set(BTreeMap::new());
                    on_created(t);
                }
                Err(e) => show_error(&e, note, Some(fields)),
            }
        }
    });
    view! {
        <section class="card" aria-labelledby="new-user-title">
            <h2 id="new-user-title">"New user"</h2>
            <form class="stack" aria-label="New user" on:submit=move |ev| {
                ev.prevent_default();
                note.set(None);
                submit.dispatch(());
            }>
                <TextField id="new-username" label="Username" name="username" value=username fields=fields />
                <TextField id="new-email" label="Email" name="email" value=email fields=fields kind="email" />
                <div class="field">
                    <label for="new-role">"Role"</label>
                    <select id="new-role" name="role" bind:value=role>
                        <option value="user">"user"</option>
                        <option value="admin">"admin"</option>
                    </select>
                </div>
                <Note note=note />
                <button type="submit" disabled=move || submit.pending().get()>"Create user"</button>
            </form>
        </section>
    }
}
