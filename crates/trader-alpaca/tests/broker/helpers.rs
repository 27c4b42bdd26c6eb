//! A simulator on port 0 with its clock pinned inside a session, and a
//! broker client pointed at it.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed step should panic"
)]

use std::time::Duration;

use alpaca_sim::{ClockMode, SimConfig, SimHandle, Simulator};
use chrono::{DateTime, Utc};
use trader_alpaca::{
    AccountClient, AccountKey, Broker, BrokerKeys, BrokerUrls, ClientConfig, Environment,
};

pub(crate) const KEY: &str = "PKBROKERTEST00000001";
pub(crate) const SECRET: &str = "broker-test-secret-0001";

/// 2024-07-10 (a Wednesday) 10:00 New York: the market is open.
pub(crate) fn wednesday_10am() -> DateTime<Utc> {
    t("2024-07-10T14:00:00Z")
}

pub(crate) fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Short deadlines and back-off so fault tests stay quick.
pub(crate) fn quick() -> ClientConfig {
    ClientConfig {
        connect_timeout: Duration::from_secs(1),
        call_timeout: Duration::from_secs(3),
        try_timeout: Duration::from_millis(800),
        max_tries: 3,
        backoff: Duration::from_millis(20),
        cache_ttl: Duration::from_secs(2),
    }
}

pub(crate) struct TestSim {
    pub(crate) sim: SimHandle,
    pub(crate) broker: Broker,
    pub(crate) account: AccountClient,
}

impl TestSim {
    /// A simulator at Wednesday 10:00 and a `sim` account on it.
    pub(crate) async fn start() -> TestSim {
        TestSim::with_config(quick()).await
    }

    pub(crate) async fn with_config(config: ClientConfig) -> TestSim {
        let sim = Simulator::start(
            SimConfig {
                clock: ClockMode::Fixed(wednesday_10am()),
                ..SimConfig::default()
            },
            "127.0.0.1:0",
        )
        .await
        .unwrap();
        let broker = Broker::new(BrokerUrls::all_at(&sim.base_url()), config).unwrap();
        let account = broker
            .for_account(
                AccountKey(1),
                Environment::Sim,
                &BrokerKeys::new(KEY, SECRET),
            )
            .unwrap();
        TestSim {
            sim,
            broker,
            account,
        }
    }

    /// Calls this test's key made to `method path`.
    pub(crate) fn calls(&self, method: &str, path: &str) -> u64 {
        self.sim.control().request_count(KEY, method, path)
    }

    pub(crate) async fn stop(self) {
        self.sim.control().clear_faults();
        self.sim.stop().await;
    }
}

/// Neither the key id nor the secret shows in an error's text.
pub(crate) fn assert_no_keys(e: &trader_alpaca::BrokerError) {
    for shown in [e.to_string(), format!("{e:?}"), format!("{e:#?}")] {
        assert!(!shown.contains(KEY), "{shown}");
        assert!(!shown.contains(SECRET), "{shown}");
    }
}
