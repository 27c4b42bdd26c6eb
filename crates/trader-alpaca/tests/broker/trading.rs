//! Trading API calls against the simulator: what a user of the dashboard
//! and the scheduler sees.

use chrono::{Duration, NaiveDate};
use trader_alpaca::{
    AccountKey, BrokerError, BrokerKeys, CloseAmount, Direction, Environment, FillsQuery,
    ListOrders, NewOrder, OrderStatusFilter, PortfolioHistoryQuery, Side, TimeInForce,
};

use crate::helpers::{KEY, SECRET, TestSim, assert_no_keys, t, wednesday_10am};

#[tokio::test]
async fn account_read() {
    let s = TestSim::start().await;
    let a = s.account.account().await.unwrap();
    assert_eq!(a.status, "ACTIVE");
    assert_eq!(a.currency, "USD");
    assert_eq!(a.cash, "100000");
    assert_eq!(a.equity, "100000");
    assert_eq!(a.buying_power, "200000");
    assert_eq!(a.last_equity, "100000");
    assert!(a.account_number.starts_with("PA"), "{}", a.account_number);
    assert!(!a.pattern_day_trader && !a.trading_blocked && !a.account_blocked);
    assert_eq!(a.daytrade_count, 0);
    assert_eq!(a.multiplier.as_deref(), Some("2"));
    s.stop().await;
}

#[tokio::test]
async fn market_buy_fills_and_shows_as_a_position() {
    let s = TestSim::start().await;
    let order = s
        .account
        .submit_order(&NewOrder::market("AAPL", Side::Buy, "10"))
        .await
        .unwrap();
    assert_eq!(order.status, "filled");
    assert_eq!(order.symbol, "AAPL");
    assert_eq!(order.side, "buy");
    assert_eq!(order.order_type, "market");
    assert_eq!(order.qty.as_deref(), Some("10"));
    assert_eq!(order.filled_qty, "10");
    assert!(order.filled_avg_price.is_some());
    // A client_order_id was generated: a uuid.
    assert!(uuid::Uuid::parse_str(&order.client_order_id).is_ok());
    assert_eq!(s.account.order(&order.id).await.unwrap(), order);
    assert_eq!(
        s.account
            .order_by_client_order_id(&order.client_order_id)
            .await
            .unwrap()
            .id,
        order.id
    );

    let positions = s.account.positions().await.unwrap();
    assert_eq!(positions.len(), 1);
    let p = &positions[0];
    assert_eq!(
        (p.symbol.as_str(), p.qty.as_str(), p.side.as_str()),
        ("AAPL", "10", "long")
    );
    assert_eq!(s.account.position("AAPL").await.unwrap(), *p);
    let a = s.account.account().await.unwrap();
    assert_ne!(a.cash, "100000", "the buy was paid");
    assert!(matches!(
        s.account.position("MSFT").await,
        Err(BrokerError::NotFound { message }) if message == "position does not exist"
    ));
    s.stop().await;
}

#[tokio::test]
async fn close_position_by_qty_percentage_and_whole() {
    let s = TestSim::start().await;
    s.account
        .submit_order(&NewOrder::market("AAPL", Side::Buy, "10"))
        .await
        .unwrap();
    let o = s
        .account
        .close_position("AAPL", &CloseAmount::Qty("4".into()))
        .await
        .unwrap();
    assert_eq!((o.side.as_str(), o.qty.as_deref()), ("sell", Some("4")));
    assert_eq!(s.account.position("AAPL").await.unwrap().qty, "6");
    let o = s
        .account
        .close_position("AAPL", &CloseAmount::Percentage("50".into()))
        .await
        .unwrap();
    assert_eq!(o.qty.as_deref(), Some("3"));
    assert_eq!(s.account.position("AAPL").await.unwrap().qty, "3");
    s.account
        .close_position("AAPL", &CloseAmount::All)
        .await
        .unwrap();
    assert!(s.account.positions().await.unwrap().is_empty());
    assert!(matches!(
        s.account.close_position("AAPL", &CloseAmount::All).await,
        Err(BrokerError::NotFound { .. })
    ));
    s.stop().await;
}

#[tokio::test]
async fn fractional_quantities_keep_all_nine_decimals() {
    let s = TestSim::start().await;
    let o = s
        .account
        .submit_order(&NewOrder::notional("AAPL", Side::Buy, "1000"))
        .await
        .unwrap();
    let (_, frac) = o.filled_qty.split_once('.').unwrap();
    assert_eq!(frac.len(), 9, "{}", o.filled_qty);
    let p = s.account.position("AAPL").await.unwrap();
    assert_eq!(p.qty, o.filled_qty);
    // Closing exactly what is held leaves nothing behind.
    s.account
        .close_position("AAPL", &CloseAmount::Qty(p.qty.clone()))
        .await
        .unwrap();
    assert!(s.account.positions().await.unwrap().is_empty());
    s.stop().await;
}

#[tokio::test]
async fn list_orders_by_status_time_symbols_and_direction() {
    let s = TestSim::start().await;
    let ctl = s.sim.control();
    let first = s
        .account
        .submit_order(&NewOrder::market("AAPL", Side::Buy, "1"))
        .await
        .unwrap();
    ctl.advance_clock(Duration::minutes(1));
    let second = s
        .account
        .submit_order(&NewOrder::limit(
            "MSFT",
            Side::Buy,
            "1",
            "1",
            TimeInForce::Gtc,
        ))
        .await
        .unwrap();
    ctl.advance_clock(Duration::minutes(1));
    let third = s
        .account
        .submit_order(&NewOrder::limit(
            "AAPL",
            Side::Buy,
            "1",
            "1.5",
            TimeInForce::Gtc,
        ))
        .await
        .unwrap();
    let ids = |list: Vec<trader_alpaca::Order>| list.into_iter().map(|o| o.id).collect::<Vec<_>>();
    let all = ListOrders {
        status: Some(OrderStatusFilter::All),
        ..ListOrders::default()
    };

    assert_eq!(
        ids(s.account.orders(&all).await.unwrap()),
        [&*third.id, &*second.id, &*first.id]
    );
    assert_eq!(
        ids(s.account.orders(&ListOrders::default()).await.unwrap()),
        [&*third.id, &*second.id]
    );
    assert_eq!(
        ids(s.account.open_orders().await.unwrap()),
        [&*third.id, &*second.id]
    );
    let closed = ListOrders {
        status: Some(OrderStatusFilter::Closed),
        ..ListOrders::default()
    };
    assert_eq!(ids(s.account.orders(&closed).await.unwrap()), [&*first.id]);
    let aapl_asc = ListOrders {
        symbols: vec!["AAPL".into()],
        direction: Some(Direction::Asc),
        ..all.clone()
    };
    assert_eq!(
        ids(s.account.orders(&aapl_asc).await.unwrap()),
        [&*first.id, &*third.id]
    );
    // after and until are exclusive.
    let window = ListOrders {
        after: Some(first.created_at),
        until: Some(third.created_at),
        ..all.clone()
    };
    assert_eq!(ids(s.account.orders(&window).await.unwrap()), [&*second.id]);
    let after_start = ListOrders {
        after: Some(wednesday_10am() + Duration::seconds(30)),
        limit: Some(1),
        ..all.clone()
    };
    assert_eq!(
        ids(s.account.orders(&after_start).await.unwrap()),
        [&*third.id]
    );
    s.stop().await;
}

#[tokio::test]
async fn cancel_one_order() {
    let s = TestSim::start().await;
    let o = s
        .account
        .submit_order(&NewOrder::limit(
            "AAPL",
            Side::Buy,
            "1",
            "1",
            TimeInForce::Day,
        ))
        .await
        .unwrap();
    assert!(o.is_open());
    s.account.cancel_order(&o.id).await.unwrap();
    let after = s.account.order(&o.id).await.unwrap();
    assert_eq!(after.status, "canceled");
    assert!(after.canceled_at.is_some());
    assert!(matches!(
        s.account.cancel_order(&o.id).await,
        Err(BrokerError::Unprocessable { message }) if message.contains("not cancelable")
    ));
    assert!(matches!(
        s.account
            .cancel_order("11111111-2222-4333-8444-555555555555")
            .await,
        Err(BrokerError::NotFound { .. })
    ));
    s.stop().await;
}

#[tokio::test]
async fn cancel_all_orders() {
    let s = TestSim::start().await;
    let mut ids = Vec::new();
    for symbol in ["AAPL", "MSFT"] {
        let o = s
            .account
            .submit_order(&NewOrder::limit(
                symbol,
                Side::Buy,
                "1",
                "1",
                TimeInForce::Gtc,
            ))
            .await
            .unwrap();
        ids.push(o.id);
    }
    assert_eq!(s.account.open_orders().await.unwrap().len(), 2);
    let mut canceled = s.account.cancel_all_orders().await.unwrap();
    canceled.sort_by(|a, b| a.id.cmp(&b.id));
    ids.sort();
    assert_eq!(
        canceled.iter().map(|c| &c.id).collect::<Vec<_>>(),
        ids.iter().collect::<Vec<_>>()
    );
    assert!(
        canceled
            .iter()
            .all(|c| c.status == 200 && c.message.is_none())
    );
    assert!(
        canceled
            .iter()
            .all(|c| c.order.as_ref().is_some_and(|o| o.status == "canceled"))
    );
    // The write dropped the shared open-orders read.
    assert!(s.account.open_orders().await.unwrap().is_empty());
    assert!(s.account.cancel_all_orders().await.unwrap().is_empty());
    s.stop().await;
}

#[tokio::test]
async fn close_all_positions_and_cancel_orders() {
    let s = TestSim::start().await;
    for symbol in ["AAPL", "MSFT"] {
        s.account
            .submit_order(&NewOrder::market(symbol, Side::Buy, "2"))
            .await
            .unwrap();
    }
    s.account
        .submit_order(&NewOrder::limit(
            "NVDA",
            Side::Buy,
            "1",
            "1",
            TimeInForce::Gtc,
        ))
        .await
        .unwrap();
    assert_eq!(s.account.positions().await.unwrap().len(), 2);
    let mut closed = s.account.close_all_positions(true).await.unwrap();
    closed.sort_by(|a, b| a.symbol.cmp(&b.symbol));
    assert_eq!(
        closed.iter().map(|c| c.symbol.as_str()).collect::<Vec<_>>(),
        ["AAPL", "MSFT"]
    );
    for c in &closed {
        assert_eq!(c.status, 200);
        let o = c.order.as_ref().unwrap();
        assert_eq!((o.side.as_str(), o.qty.as_deref()), ("sell", Some("2")));
    }
    assert!(s.account.positions().await.unwrap().is_empty());
    assert!(s.account.open_orders().await.unwrap().is_empty());
    s.stop().await;
}

#[tokio::test]
async fn fill_activities_page_by_page() {
    let s = TestSim::start().await;
    for symbol in ["AAPL", "MSFT", "NVDA"] {
        s.account
            .submit_order(&NewOrder::market(symbol, Side::Buy, "1"))
            .await
            .unwrap();
        s.sim.control().advance_clock(Duration::minutes(1));
    }
    let first = s
        .account
        .fills(&FillsQuery {
            page_size: Some(2),
            ..FillsQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(first.fills.len(), 2);
    // Newest first by default.
    assert_eq!(first.fills[0].symbol, "NVDA");
    assert!(
        first
            .fills
            .iter()
            .all(|f| f.activity_type == "FILL" && f.side == "buy")
    );
    let token = first.next_page_token.clone().unwrap();
    assert_eq!(token, first.fills[1].id);
    let second = s
        .account
        .fills(&FillsQuery {
            page_size: Some(2),
            page_token: Some(token),
            ..FillsQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(second.fills.len(), 1);
    assert_eq!(second.fills[0].symbol, "AAPL");
    assert_eq!(second.next_page_token, None);
    let oldest_first = s
        .account
        .fills(&FillsQuery {
            direction: Some(Direction::Asc),
            ..FillsQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        oldest_first
            .fills
            .iter()
            .map(|f| f.symbol.as_str())
            .collect::<Vec<_>>(),
        ["AAPL", "MSFT", "NVDA"]
    );
    assert!(matches!(
        s.account
            .fills(&FillsQuery {
                page_size: Some(500),
                ..FillsQuery::default()
            })
            .await,
        Err(BrokerError::InvalidRequest(_))
    ));
    s.stop().await;
}

#[tokio::test]
async fn portfolio_history_over_the_day() {
    let s = TestSim::start().await;
    s.account
        .submit_order(&NewOrder::market("AAPL", Side::Buy, "100"))
        .await
        .unwrap();
    s.sim.control().advance_clock(Duration::hours(2));
    let h = s
        .account
        .portfolio_history(&PortfolioHistoryQuery {
            period: Some("1D".into()),
            timeframe: Some("15Min".into()),
            ..PortfolioHistoryQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(h.timeframe, "15Min");
    assert!(h.timestamp.len() >= 8, "{h:?}");
    assert!(h.timestamp.windows(2).all(|w| w[1] - w[0] == 15 * 60));
    assert_eq!(h.equity.len(), h.timestamp.len());
    assert_eq!(h.profit_loss.len(), h.timestamp.len());
    assert!(h.equity.iter().all(|e| e.is_some_and(|e| e > 90_000.0)));
    assert_eq!(h.base_value, Some(100_000.0));
    s.stop().await;
}

#[tokio::test]
async fn clock_and_calendar() {
    let s = TestSim::start().await;
    let c = s.account.clock().await.unwrap();
    assert!(c.is_open);
    assert_eq!(c.timestamp, wednesday_10am());
    assert_eq!(c.next_close, t("2024-07-10T20:00:00Z"));
    assert_eq!(c.next_open, t("2024-07-11T13:30:00Z"));
    let d = |m, dd| NaiveDate::from_ymd_opt(2024, m, dd).unwrap();
    let days = s.account.calendar(d(11, 25), d(11, 29)).await.unwrap();
    assert_eq!(
        days.iter().map(|x| x.date).collect::<Vec<_>>(),
        [d(11, 25), d(11, 26), d(11, 27), d(11, 29)],
        "Thanksgiving is closed"
    );
    assert_eq!(days[3].close.to_string(), "13:00:00", "early close");
    s.stop().await;
}

#[tokio::test]
async fn assets_list_and_lookup() {
    let s = TestSim::start().await;
    let all = s.account.assets().await.unwrap();
    let aapl = all.iter().find(|a| a.symbol == "AAPL").unwrap();
    assert_eq!(aapl.name, "Apple Inc. Common Stock");
    assert_eq!(
        (
            aapl.class.as_str(),
            aapl.exchange.as_str(),
            aapl.status.as_str()
        ),
        ("us_equity", "NASDAQ", "active")
    );
    assert!(aapl.tradable && aapl.fractionable && aapl.shortable);
    assert_eq!(&s.account.asset("AAPL").await.unwrap(), aapl);
    assert!(matches!(
        s.account.asset("NOPE").await,
        Err(BrokerError::NotFound { .. })
    ));
    assert!(matches!(
        s.account.asset("../account").await,
        Err(BrokerError::InvalidRequest(_))
    ));
    s.stop().await;
}

#[tokio::test]
async fn refusals_carry_alpacas_message() {
    let s = TestSim::start().await;
    let err = s
        .account
        .submit_order(&NewOrder::market("AAPL", Side::Buy, "100000"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        BrokerError::Forbidden {
            message: "insufficient buying power".into()
        }
    );
    let err = s
        .account
        .submit_order(&NewOrder::market("NOSUCH", Side::Buy, "1"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BrokerError::Unprocessable { message } if message.contains("not found")),
        "{err:?}"
    );
    assert_eq!(s.calls("POST", "/v2/orders"), 2, "refusals are not retried");
    s.stop().await;
}

#[tokio::test]
async fn a_reused_client_order_id_returns_the_existing_order() {
    let s = TestSim::start().await;
    let order = NewOrder::market("AAPL", Side::Buy, "1").with_client_order_id("decision-1");
    let first = s.account.submit_order(&order).await.unwrap();
    assert_eq!(first.client_order_id, "decision-1");
    let err = s.account.submit_order(&order).await.unwrap_err();
    match &err {
        BrokerError::DuplicateClientOrderId { existing } => assert_eq!(**existing, first),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.to_string(),
        format!(
            "client_order_id decision-1 is already used by order {}",
            first.id
        )
    );
    let all = ListOrders {
        status: Some(OrderStatusFilter::All),
        ..ListOrders::default()
    };
    assert_eq!(s.account.orders(&all).await.unwrap().len(), 1);
    s.stop().await;
}

#[tokio::test]
async fn wrong_keys_are_rejected_and_never_shown() {
    let s = TestSim::start().await;
    s.account.account().await.unwrap();
    let wrong = s
        .broker
        .for_account(
            AccountKey(2),
            Environment::Sim,
            &BrokerKeys::new(KEY, "not-the-secret"),
        )
        .unwrap();
    let err = wrong.account().await.unwrap_err();
    assert_eq!(err, BrokerError::KeysRejected);
    assert_eq!(s.calls("GET", "/v2/account"), 2, "a 401 is not retried");
    // Live keys on the paper simulator.
    let live = s
        .broker
        .for_account(
            AccountKey(3),
            Environment::Sim,
            &BrokerKeys::new("AKLIVEKEY", SECRET),
        )
        .unwrap();
    assert_eq!(
        live.positions().await.unwrap_err(),
        BrokerError::KeysRejected
    );

    // No error this client produces shows the keys.
    let mut errors = vec![err];
    errors.push(
        s.account
            .submit_order(&NewOrder::market("AAPL", Side::Buy, "100000"))
            .await
            .unwrap_err(),
    );
    errors.push(s.account.asset("NOPE").await.unwrap_err());
    errors.push(
        s.account
            .submit_order(&NewOrder::market("NOSUCH", Side::Buy, "1"))
            .await
            .unwrap_err(),
    );
    errors.push(
        s.account
            .order("11111111-2222-4333-8444-555555555555")
            .await
            .unwrap_err(),
    );
    for e in &errors {
        assert_no_keys(e);
    }
    let shown = format!("{:?} {:?}", s.account, s.broker);
    assert!(!shown.contains(KEY) && !shown.contains(SECRET), "{shown}");
    s.stop().await;
}

#[tokio::test]
async fn a_write_drops_the_shared_reads() {
    let s = TestSim::start().await;
    let before = s.account.account().await.unwrap();
    s.account.account().await.unwrap();
    assert_eq!(s.calls("GET", "/v2/account"), 1, "reused within the ttl");
    s.account
        .submit_order(&NewOrder::market("AAPL", Side::Buy, "1"))
        .await
        .unwrap();
    let after = s.account.account().await.unwrap();
    assert_eq!(s.calls("GET", "/v2/account"), 2);
    assert_ne!(before.cash, after.cash);
    // Another account handle on the same key has its own entry.
    let other = s
        .broker
        .for_account(
            AccountKey(99),
            Environment::Sim,
            &BrokerKeys::new(KEY, SECRET),
        )
        .unwrap();
    other.account().await.unwrap();
    assert_eq!(s.calls("GET", "/v2/account"), 3);
    s.stop().await;
}
