//! Live updates: `GET /api/events` (Server-Sent Events) for the signed-in
//! user, and polling when the stream is not there.
//!
//! Pages read the counters of [`Live`] inside their resources' fetchers, so
//! an event (or a poll) refetches just the data it touches:
//! `order` and `fill` events and polls bump `broker`; `signals` bumps
//! `signals`; `scheduler_pass` bumps `scheduler`; `auto_trade` bumps
//! `auto_trade`; `session_ended` asks the server who is signed in (and the
//! shell goes to the sign-in page).
//!
//! The browser's `EventSource` reconnects by itself and resends
//! `Last-Event-ID`. While the stream is not open (it failed, or the
//! endpoint answers 404 on a server without it), the broker data and the
//! auto-trade log are polled every 5 s, and a closed stream is retried
//! every 30 s.

use std::time::Duration;

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{EventSource, MessageEvent};

use crate::app::Auth;

/// How often data is polled while the stream is down.
const POLL: Duration = Duration::from_secs(5);
/// How often a closed stream is opened again.
const RETRY_SECS: u32 = 30;

/// Change counters the pages' resources track.
#[derive(Clone, Copy)]
pub(crate) struct Live {
    pub(crate) broker: RwSignal<u64>,
    pub(crate) signals: RwSignal<u64>,
    pub(crate) scheduler: RwSignal<u64>,
    pub(crate) auto_trade: RwSignal<u64>,
    /// The stream is open (otherwise data is polled).
    pub(crate) streaming: RwSignal<bool>,
}

fn bump(s: RwSignal<u64>) {
    s.update(|n| *n = n.wrapping_add(1));
}

impl Live {
    pub(crate) fn new() -> Self {
        Self {
            broker: RwSignal::new(0),
            signals: RwSignal::new(0),
            scheduler: RwSignal::new(0),
            auto_trade: RwSignal::new(0),
            streaming: RwSignal::new(false),
        }
    }

    fn on_event(self, kind: &str) {
        match kind {
            "order" | "fill" => bump(self.broker),
            "signals" => bump(self.signals),
            "scheduler_pass" => {
                bump(self.scheduler);
                bump(self.signals);
            }
            "auto_trade" => {
                bump(self.auto_trade);
                bump(self.broker);
            }
            "session_ended" => {
                if let Some(auth) = Auth::current() {
                    auth.refresh();
                }
            }
            _ => {}
        }
    }

    /// Opens the stream and starts the poller; both end when the calling
    /// component (the signed-in frame) goes away.
    pub(crate) fn start(self) {
        let source = StoredValue::new_local(None::<EventSource>);
        // The handlers live as long as the page: the frame is mounted once
        // per sign-in, and each stream gets its own set.
        let open = move || {
            let Ok(es) = EventSource::new("/api/events") else {
                return;
            };
            for kind in [
                "signals",
                "order",
                "fill",
                "scheduler_pass",
                "auto_trade",
                "session_ended",
            ] {
                let handler = Closure::<dyn FnMut(MessageEvent)>::new(move |_: MessageEvent| {
                    self.streaming.set(true);
                    self.on_event(kind);
                });
                let _ = es.add_event_listener_with_callback(kind, handler.as_ref().unchecked_ref());
                handler.forget();
            }
            let on_open = Closure::<dyn FnMut()>::new(move || {
                self.streaming.set(true);
                // Whatever happened while the stream was away.
                bump(self.broker);
                bump(self.auto_trade);
            });
            es.set_onopen(Some(on_open.as_ref().unchecked_ref()));
            on_open.forget();
            let on_error = Closure::<dyn FnMut()>::new(move || self.streaming.set(false));
            es.set_onerror(Some(on_error.as_ref().unchecked_ref()));
            on_error.forget();
            if let Some(old) = source.try_update_value(|s| s.replace(es)).flatten() {
                old.close();
            }
        };
        open();
        let ticks = std::cell::Cell::new(0u32);
        let poller = set_interval_with_handle(
            move || {
                ticks.set(ticks.get().wrapping_add(1));
                let state = source.with_value(|s| s.as_ref().map(EventSource::ready_state));
                if state != Some(EventSource::OPEN) {
                    self.streaming.set(false);
                    bump(self.broker);
                    bump(self.auto_trade);
                    bump(self.scheduler);
                }
                if (state.is_none() || state == Some(EventSource::CLOSED))
                    && ticks.get().is_multiple_of(RETRY_SECS / 5)
                {
                    open();
                }
            },
            POLL,
        )
        .ok();
        on_cleanup(move || {
            if let Some(p) = poller {
                p.clear();
            }
            if let Some(es) = source.try_update_value(Option::take).flatten() {
                es.close();
            }
        });
    }
}
