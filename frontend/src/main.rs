//! alpaca-trader's single-page app over the server's JSON API: sign-in,
//! two-factor set-up, API tokens, security and user administration; the
//! dashboard, orders, trading accounts, watchlists, signals with charts,
//! settings, auto-trade and the scheduler, updated live. Built by
//! trunk (scripts/build-spa) into `frontend/dist`, which the server serves.

#![expect(
    unreachable_pub,
    reason = "leptos's #[component] expands to `pub` items even for pub(crate) components"
)]

mod api;
mod app;
mod chart;
mod components;
mod live;
mod pages;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
