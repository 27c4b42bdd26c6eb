//! The router, the signed-in user, and the app shell around the pages.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::{A, Outlet, ParentRoute, Redirect, Route, Router, Routes};
use leptos_router::path;
use trader_api_types::Role;
use trader_api_types::auth::CurrentUser;

use crate::api::{self, ApiResult};
use crate::components::{Loading, Reauth, ReauthDialog};
use crate::live::Live;
use crate::pages::auto_trade::{AutoTradeState, KillSwitch};
use crate::pages::{
    accounts, admin, auth, auto_trade, dashboard, scheduler, security, settings, signals, ticket,
    tokens, watchlists,
};
use trader_api_types::broker::TradingAccountList;

/// Who is signed in, once `GET /api/auth/me` has answered.
#[derive(Clone, Copy)]
pub(crate) struct Auth {
    pub(crate) user: RwSignal<Option<CurrentUser>>,
    /// False until the first answer.
    pub(crate) ready: RwSignal<bool>,
    /// Set when the server could not be asked.
    pub(crate) failed: RwSignal<Option<String>>,
}

thread_local! {
    static AUTH: std::cell::Cell<Option<Auth>> = const { std::cell::Cell::new(None) };
    /// Bumped when the trading accounts change (added, renamed, activated).
    static ACCOUNTS: std::cell::Cell<Option<RwSignal<u64>>> = const { std::cell::Cell::new(None) };
}

/// The trading accounts, fetched again whenever they change.
pub(crate) fn accounts_resource() -> LocalResource<ApiResult<TradingAccountList>> {
    let version = ACCOUNTS.with(std::cell::Cell::get);
    LocalResource::new(move || {
        if let Some(v) = version {
            v.track();
        }
        api::list_accounts()
    })
}

/// Tells every page showing accounts that they changed.
pub(crate) fn accounts_changed() {
    if let Some(v) = ACCOUNTS.with(std::cell::Cell::get) {
        v.update(|n| *n += 1);
    }
}

impl Auth {
    /// The app's `Auth`, also from actions (outside the component tree).
    pub(crate) fn current() -> Option<Self> {
        AUTH.with(std::cell::Cell::get)
    }

    /// Asks the server who is signed in.
    pub(crate) fn refresh(self) {
        spawn_local(async move {
            match api::me().await {
                Ok(user) => {
                    self.user.set(user);
                    self.failed.set(None);
                }
                Err(e) => self.failed.set(Some(e.friendly())),
            }
            self.ready.set(true);
        });
    }
}

#[component]
pub(crate) fn App() -> impl IntoView {
    let auth = Auth {
        user: RwSignal::new(None),
        ready: RwSignal::new(false),
        failed: RwSignal::new(None),
    };
    AUTH.with(|a| a.set(Some(auth)));
    ACCOUNTS.with(|a| a.set(Some(RwSignal::new(0))));
    provide_context(auth);
    provide_context(Reauth::new());
    auth.refresh();
    view! {
        <Router>
            <a class="skip" href="#main">"Skip to content"</a>
            <Routes fallback=|| view! { <Page><NotFound /></Page> }>
                <Route path=path!("/login") view=auth::SignIn />
                <Route path=path!("/login/2fa") view=auth::VerifyTwoFactor />
                <ParentRoute path=path!("/") view=Shell>
                    <Route path=path!("") view=dashboard::Dashboard />
                    <Route path=path!("trade") view=ticket::TradePage />
                    <Route path=path!("accounts") view=accounts::Accounts />
                    <Route path=path!("watchlists") view=watchlists::Watchlists />
                    <Route path=path!("signals") view=signals::Signals />
                    <Route path=path!("signals/:symbol") view=signals::ChartPage />
                    <Route path=path!("settings") view=settings::SettingsPage />
                    <Route path=path!("auto-trade") view=auto_trade::AutoTradePage />
                    <Route path=path!("scheduler") view=scheduler::Scheduler />
                    <Route path=path!("tokens") view=tokens::Tokens />
                    <Route path=path!("security") view=security::Security />
                    <Route path=path!("security/2fa") view=security::TwoFactorSetup />
                    <Route path=path!("admin") view=admin::Users />
                    <Route path=path!("admin/audit") view=admin::AllAudit />
                </ParentRoute>
            </Routes>
            <ReauthDialog />
        </Router>
    }
}

/// A page outside the shell (sign-in, 404): a centred card.
#[component]
pub(crate) fn Page(children: Children) -> impl IntoView {
    view! {
        <main id="main" class="page-center">
            <div class="card narrow">
                <p class="brand">"alpaca-trader"</p>
                {children()}
            </div>
        </main>
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ShellState {
    Loading,
    Failed,
    SignedOut,
    MustChangePassword,
    SignedIn,
}

/// The signed-in frame: navigation, the user, sign out. Signed-out visitors
/// go to `/login`; after an admin reset, only the password change shows.
#[component]
fn Shell() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let state = Memo::new(move |_| {
        if auth.failed.with(Option::is_some) {
            return ShellState::Failed;
        }
        if !auth.ready.get() {
            return ShellState::Loading;
        }
        auth.user.with(|u| match u {
            None => ShellState::SignedOut,
            Some(u) if u.must_change_password => ShellState::MustChangePassword,
            Some(_) => ShellState::SignedIn,
        })
    });
    move || {
        match state.get() {
        ShellState::Loading => view! { <Page><Loading /></Page> }.into_any(),
        ShellState::Failed => view! {
            <Page>
                <h1>"Something went wrong"</h1>
                <p role="alert">{move || auth.failed.get()}</p>
                <p><a href="/">"Try again"</a></p>
            </Page>
        }
        .into_any(),
        ShellState::SignedOut => view! { <Redirect path="/login" /> }.into_any(),
        ShellState::MustChangePassword => view! {
            <Page>
                <h1>"Choose a new password"</h1>
                <p>"An administrator set a temporary password for you. Choose your own to continue."</p>
                <security::ChangePassword forced=true />
            </Page>
        }
        .into_any(),
        ShellState::SignedIn => view! { <Frame /> }.into_any(),
    }
    }
}

#[component]
fn Frame() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let is_admin = move || {
        auth.user
            .with(|u| u.as_ref().is_some_and(|u| u.role == Role::Admin))
    };
    let name = move || {
        auth.user
            .with(|u| u.as_ref().map(|u| u.username.clone()).unwrap_or_default())
    };
    let live = Live::new();
    provide_context(live);
    live.start();
    let auto_trade = AutoTradeState::new();
    provide_context(auto_trade);
    auto_trade.refresh();
    // A decision or a poll may follow a change made elsewhere (another
    // tab, a token, the kill switch of another session).
    Effect::new(move |_| {
        live.auto_trade.track();
        auto_trade.refresh();
    });
    let sign_out = Action::new_local(move |_: &()| async move {
        let _ = api::logout().await;
        auth.user.set(None);
    });
    view! {
        <header class="top">
            <a class="brand" href="/">"alpaca-trader"</a>
            <nav aria-label="Main">
                <A href="/" exact=true>"Dashboard"</A>
                <A href="/trade">"Trade"</A>
                <A href="/signals">"Signals"</A>
                <A href="/watchlists">"Watchlists"</A>
                <A href="/accounts">"Accounts"</A>
                <A href="/settings">"Settings"</A>
                <A href="/auto-trade">"Auto-trade"</A>
                <A href="/scheduler">"Scheduler"</A>
                <A href="/tokens">"API tokens"</A>
                <A href="/security">"Security"</A>
                <Show when=is_admin>
                    <A href="/admin">"Users"</A>
                    <A href="/admin/audit">"Audit log"</A>
                </Show>
            </nav>
            <div class="user">
                <span data-testid="username">{name}</span>
                <button type="button" class="secondary" on:click=move |_| { sign_out.dispatch(()); }>
                    "Sign out"
                </button>
            </div>
        </header>
        <main id="main" class="content">
            <SecurityNudge />
            <KillSwitch />
            <Outlet />
        </main>
    }
}

/// The 2FA reminder part 1 showed on the overview, now above every page
/// until 2FA is on.
#[component]
fn SecurityNudge() -> impl IntoView {
    let auth = expect_context::<Auth>();
    move || {
        auth.user.with(|u| {
            u.as_ref().filter(|u| !u.two_factor_enabled).map(|u| {
                let admin = u.role == Role::Admin;
                view! {
                    <p class="note warn">
                        "Two-factor authentication is off. "
                        <a href="/security/2fa">"Turn it on"</a>
                        " to protect your account"
                        {if admin { " (admins need it to manage users; auto-trade and live accounts need it too)." } else { " (auto-trade and live accounts need it)." }}
                    </p>
                }
            })
        })
    }
}

#[component]
pub(crate) fn NotFound() -> impl IntoView {
    view! {
        <h1>"Page not found"</h1>
        <p>"There is no page at this address."</p>
        <p><a href="/">"Go to the dashboard"</a></p>
    }
}

/// Shown instead of a page the user may not see.
#[component]
pub(crate) fn Forbidden() -> impl IntoView {
    view! {
        <h1>"Not allowed"</h1>
        <p>"Your account may not open this page. Ask an administrator if you need it."</p>
        <p><a href="/">"Go to the dashboard"</a></p>
    }
}
