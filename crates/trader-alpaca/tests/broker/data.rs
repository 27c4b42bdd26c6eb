//! Market data: multi-symbol bars with paging, and where data calls go.

use std::net::TcpListener;

use trader_alpaca::{
    AccountKey, BarsQuery, Broker, BrokerError, BrokerKeys, BrokerUrls, Environment,
};

use crate::helpers::{KEY, SECRET, TestSim, quick, t};

fn first_week_of_july() -> BarsQuery {
    BarsQuery {
        start: Some(t("2024-07-01T00:00:00Z")),
        end: Some(t("2024-07-09T23:59:59Z")),
        feed: Some("iex".into()),
        ..BarsQuery::new(&["MSFT", "AAPL"], "1Day")
    }
}

#[tokio::test]
async fn bars_for_many_symbols_follow_every_page() {
    let s = TestSim::start().await;
    let whole = s.account.bars(&first_week_of_july()).await.unwrap();
    assert_eq!(s.calls("GET", "/v2/stocks/bars"), 1);
    assert_eq!(whole.keys().collect::<Vec<_>>(), ["AAPL", "MSFT"]);
    for bars in whole.values() {
        // Six sessions: July 4th is a holiday.
        assert_eq!(bars.len(), 6);
        assert!(bars.windows(2).all(|w| w[0].t < w[1].t));
        assert!(bars.iter().all(|b| b.l <= b.o && b.o <= b.h && b.v > 0.0));
    }
    // Four bars a page (the limit counts all symbols): three pages, the
    // same bars.
    let paged = s
        .account
        .bars(&BarsQuery {
            limit: Some(4),
            ..first_week_of_july()
        })
        .await
        .unwrap();
    assert_eq!(s.calls("GET", "/v2/stocks/bars"), 1 + 3);
    assert_eq!(paged, whole);
    assert!(matches!(
        s.account.bars(&BarsQuery::new(&[], "1Day")).await,
        Err(BrokerError::InvalidRequest(_))
    ));
    assert!(matches!(
        s.account
            .bars(&BarsQuery::new(&["AAPL"], "7Fortnights"))
            .await,
        Err(BrokerError::BadRequest { .. })
    ));
    s.stop().await;
}

#[tokio::test]
async fn sim_accounts_take_data_from_the_sim_and_others_from_the_data_url() {
    let s = TestSim::start().await;
    let closed_port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let urls = BrokerUrls {
        data: format!("http://127.0.0.1:{closed_port}"),
        ..BrokerUrls::all_at(&s.sim.base_url())
    };
    let broker = Broker::new(urls, quick()).unwrap();
    let keys = BrokerKeys::new(KEY, SECRET);
    let paper = broker
        .for_account(AccountKey(1), Environment::Paper, &keys)
        .unwrap();
    // Trading goes to the paper URL (the sim here), data to the data URL.
    paper.account().await.unwrap();
    assert_eq!(
        paper.bars(&first_week_of_july()).await,
        Err(BrokerError::Unreachable)
    );
    let sim = broker
        .for_account(AccountKey(1), Environment::Sim, &keys)
        .unwrap();
    assert_eq!(sim.bars(&first_week_of_july()).await.unwrap().len(), 2);
    s.stop().await;
}
