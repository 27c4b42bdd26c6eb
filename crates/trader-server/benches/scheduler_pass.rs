//! One scheduler pass for 1,000 users with 50-symbol watchlists drawn from
//! 500 symbols, bars served from memory (no broker): the CPU time of the
//! computation, and of storing the signals on SQLite and on PostgreSQL
//! (when TEST_DATABASE_URL is set). A benchmark, not a test:
//!
//!     cargo bench -p trader-server --bench scheduler_pass
//!
//! It prints wall and CPU seconds (getrusage) for each phase.

#![expect(clippy::unwrap_used, reason = "a benchmark: fail loudly")]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use rand::{Rng, SeedableRng};
use trader_alpaca::Bar;
use trader_api_types::signals::Settings;
use trader_api_types::{Role, UserId};
use trader_db::Backend;
use trader_db::test_support::TestDb;
use trader_server::services::scheduler::{SignalMemo, compute_signals, store_signals};

const USERS: usize = 1_000;
const SYMBOLS: usize = 500;
const PER_LIST: usize = 50;
const BARS: usize = 300;

fn cpu() -> Duration {
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).unwrap();
    let t = |tv: nix::sys::time::TimeVal| {
        Duration::from_secs(u64::try_from(tv.tv_sec()).unwrap())
            + Duration::from_micros(u64::try_from(tv.tv_usec()).unwrap())
    };
    t(usage.user_time()) + t(usage.system_time())
}

fn market(now: DateTime<Utc>) -> BTreeMap<String, Vec<Bar>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    (0..SYMBOLS)
        .map(|i| {
            let mut price = rng.gen_range(10.0..500.0_f64);
            let bars = (0..BARS)
                .map(|d| {
                    let open = price;
                    price *= 1.0 + rng.gen_range(-0.03..0.03);
                    let t = now - chrono::Duration::days(i64::try_from(BARS - d).unwrap());
                    Bar {
                        t,
                        o: open,
                        h: open.max(price) * 1.01,
                        l: open.min(price) * 0.99,
                        c: price,
                        v: rng.gen_range(1e5..1e7),
                        n: 0,
                        vw: price,
                    }
                })
                .collect();
            (format!("S{i:03}"), bars)
        })
        .collect()
}

fn lists() -> Vec<Vec<(String, Option<String>)>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    (0..USERS)
        .map(|_| {
            let mut picked = std::collections::BTreeSet::new();
            while picked.len() < PER_LIST {
                picked.insert(rng.gen_range(0..SYMBOLS));
            }
            picked
                .into_iter()
                .map(|i| (format!("S{i:03}"), None))
                .collect()
        })
        .collect()
}

fn main() {
    let now = Utc.with_ymd_and_hms(2024, 7, 10, 14, 0, 0).unwrap();
    let bars = market(now);
    let lists = lists();
    let settings = Settings::default();

    let (wall, cpu0) = (Instant::now(), cpu());
    let mut memo = SignalMemo::default();
    let computed: Vec<_> = lists
        .iter()
        .enumerate()
        .map(|(i, symbols)| {
            compute_signals(
                UserId(i64::try_from(i).unwrap() + 1),
                &settings,
                symbols,
                &bars,
                now,
                &mut memo,
            )
            .0
        })
        .collect();
    let (compute_wall, compute_cpu) = (wall.elapsed(), cpu() - cpu0);
    let signals: usize = computed.iter().map(Vec::len).sum();
    println!(
        "compute: {USERS} users x {PER_LIST} symbols ({signals} signals): wall {:.3} s, cpu {:.3} s",
        compute_wall.as_secs_f64(),
        compute_cpu.as_secs_f64()
    );

    let mut backends = vec![Backend::Sqlite];
    if std::env::var_os("TEST_DATABASE_URL").is_some() {
        backends.push(Backend::Postgres);
    }
    for backend in backends {
        let db = TestDb::new(backend);
        let mut conn = db.conn();
        let ids: Vec<UserId> = (0..USERS)
            .map(|i| {
                trader_db::users::create_user(
                    &mut conn,
                    &trader_db::users::NewUser {
                        username: &format!("user{i}"),
                        email: "bench@example.com",
                        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
                        role: Role::User,
                        must_change_password: false,
                    },
                )
                .unwrap()
                .id
            })
            .collect();
        let (wall, cpu0) = (Instant::now(), cpu());
        let mut stored = 0;
        for (id, rows) in ids.iter().zip(&computed) {
            stored += store_signals(&mut conn, *id, "1Day", rows, now).unwrap();
        }
        let (store_wall, store_cpu) = (wall.elapsed(), cpu() - cpu0);
        println!(
            "store on {backend}: {stored} signals: wall {:.3} s, cpu {:.3} s; pass in all (compute + store): wall {:.3} s",
            store_wall.as_secs_f64(),
            store_cpu.as_secs_f64(),
            (compute_wall + store_wall).as_secs_f64()
        );
        assert_eq!(stored, signals);
    }
}
