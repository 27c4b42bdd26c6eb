//! alpaca-trader's single-page app: sign-in, two-factor set-up, API tokens,
//! security and user administration, over the server's JSON API. Built by
//! trunk (scripts/build-spa) into `frontend/dist`, which the server serves.

#![expect(
    unreachable_pub,
    reason = "leptos's #[component] expands to `pub` items even for pub(crate) components"
)]

mod api;
mod app;
mod components;
mod pages;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
