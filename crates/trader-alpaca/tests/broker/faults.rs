//! The client under the simulator's faults: bounded retries inside the
//! deadline, rate limits, lost answers to orders, and shared reads.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use alpaca_sim::{Fault, FaultKind};
use trader_alpaca::{
    AccountKey, Broker, BrokerError, BrokerKeys, BrokerUrls, ClientConfig, CloseAmount,
    Environment, ListOrders, NewOrder, OrderStatusFilter, Side,
};

use crate::helpers::{KEY, SECRET, TestSim, assert_no_keys, quick};

/// Orders with this client order id, as the simulator has them.
async fn orders_with(s: &TestSim, client_order_id: &str) -> usize {
    let all = ListOrders {
        status: Some(OrderStatusFilter::All),
        ..ListOrders::default()
    };
    s.account
        .orders(&all)
        .await
        .unwrap_or_default()
        .iter()
        .filter(|o| o.client_order_id == client_order_id)
        .count()
}

#[tokio::test]
async fn server_errors_are_tried_three_times_then_upstream() {
    let s = TestSim::start().await;
    s.sim.control().set_fault(Fault::ErrorNext {
        status: 500,
        count: 10,
    });
    let err = s.account.account().await.unwrap_err();
    assert_eq!(err, BrokerError::Upstream { status: 500 });
    assert_eq!(s.calls("GET", "/v2/account"), 3);
    assert_no_keys(&err);
    // Two failures and then an answer: the read succeeds on its third try.
    s.sim.control().set_fault(Fault::ErrorNext {
        status: 503,
        count: 2,
    });
    s.account.positions().await.unwrap();
    assert_eq!(s.calls("GET", "/v2/positions"), 3);
    s.stop().await;
}

#[tokio::test]
async fn a_long_rate_limit_is_returned_without_retrying() {
    let s = TestSim::start().await;
    s.sim.control().set_fault(Fault::RateLimitStorm);
    let err = s.account.account().await.unwrap_err();
    match err {
        // The simulator's window resets a minute after its first call.
        BrokerError::RateLimited { retry_after_secs } => {
            assert!((2..=60).contains(&retry_after_secs), "{retry_after_secs}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.calls("GET", "/v2/account"), 1);
    s.stop().await;
}

#[tokio::test]
async fn a_short_rate_limit_is_waited_out() {
    let s = TestSim::start().await;
    s.sim.control().set_fault(Fault::RateLimitNext {
        count: 1,
        retry_after_secs: 1,
    });
    let started = Instant::now();
    s.account.account().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(950));
    assert_eq!(s.calls("GET", "/v2/account"), 2);
    // Short waits still count against the tries.
    s.sim.control().set_fault(Fault::RateLimitNext {
        count: 10,
        retry_after_secs: 0,
    });
    assert_eq!(
        s.account.clock().await,
        Err(BrokerError::RateLimited {
            retry_after_secs: 1
        })
    );
    assert_eq!(s.calls("GET", "/v2/clock"), 3);
    s.stop().await;
}

#[tokio::test]
async fn a_hanging_broker_times_out_within_the_budget() {
    let s = TestSim::with_config(ClientConfig {
        call_timeout: Duration::from_millis(1500),
        try_timeout: Duration::from_millis(500),
        ..quick()
    })
    .await;
    s.sim.control().set_fault(Fault::Hang);
    let started = Instant::now();
    let err = s.account.account().await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(err, BrokerError::Timeout);
    assert!(
        took >= Duration::from_millis(1000) && took < Duration::from_millis(2000),
        "{took:?}"
    );
    assert_eq!(s.calls("GET", "/v2/account"), 3, "three tries of 500 ms");
    s.sim.control().clear_fault(FaultKind::Hang);
    s.stop().await;
}

#[tokio::test]
async fn a_closed_port_is_unreachable() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let broker = Broker::new(
        BrokerUrls::all_at(&format!("http://127.0.0.1:{port}")),
        quick(),
    )
    .unwrap();
    let account = broker
        .for_account(
            AccountKey(1),
            Environment::Paper,
            &BrokerKeys::new(KEY, SECRET),
        )
        .unwrap();
    let started = Instant::now();
    assert_eq!(account.account().await, Err(BrokerError::Unreachable));
    assert_eq!(
        account
            .submit_order(&NewOrder::market("AAPL", Side::Buy, "1"))
            .await,
        Err(BrokerError::Unreachable)
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn an_order_whose_answer_came_too_late_is_placed_once() {
    let s = TestSim::with_config(ClientConfig {
        call_timeout: Duration::from_secs(4),
        try_timeout: Duration::from_millis(500),
        ..quick()
    })
    .await;
    // The simulator stores the order, then holds the answer past the try's
    // deadline.
    s.sim.control().set_fault(Fault::DelayResponse {
        millis: 1500,
        method: Some("POST".into()),
        path: Some("/v2/orders".into()),
        count: Some(1),
    });
    let started = Instant::now();
    let order = s
        .account
        .submit_order(&NewOrder::market("AAPL", Side::Buy, "3"))
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "did not wait for the late answer"
    );
    assert_eq!(
        (order.symbol.as_str(), order.qty.as_deref()),
        ("AAPL", Some("3"))
    );
    assert_eq!(s.calls("POST", "/v2/orders"), 2, "sent again");
    assert_eq!(s.calls("GET", "/v2/orders:by_client_order_id"), 1);
    assert_eq!(orders_with(&s, &order.client_order_id).await, 1);
    assert_eq!(s.account.positions().await.unwrap()[0].qty, "3");
    s.stop().await;
}

#[tokio::test]
async fn an_order_whose_answer_was_lost_is_placed_once() {
    let s = TestSim::start().await;
    s.sim.control().set_fault(Fault::DropResponse {
        method: Some("POST".into()),
        path: Some("/v2/orders".into()),
        count: Some(1),
    });
    let order = s
        .account
        .submit_order(&NewOrder::market("MSFT", Side::Buy, "2").with_client_order_id("lost-1"))
        .await
        .unwrap();
    assert_eq!(order.client_order_id, "lost-1");
    assert_eq!(s.calls("POST", "/v2/orders"), 2);
    assert_eq!(orders_with(&s, "lost-1").await, 1);
    s.stop().await;
}

#[tokio::test]
async fn an_order_refused_with_a_server_error_is_sent_again() {
    let s = TestSim::start().await;
    s.sim.control().set_fault(Fault::ErrorNext {
        status: 503,
        count: 1,
    });
    let order = s
        .account
        .submit_order(&NewOrder::market("AAPL", Side::Buy, "1"))
        .await
        .unwrap();
    assert_eq!(order.status, "filled");
    assert_eq!(s.calls("POST", "/v2/orders"), 2);
    assert_eq!(s.calls("GET", "/v2/orders:by_client_order_id"), 0);
    assert_eq!(orders_with(&s, &order.client_order_id).await, 1);
    s.stop().await;
}

#[tokio::test]
async fn closing_is_not_repeated_after_a_server_error() {
    let s = TestSim::start().await;
    s.account
        .submit_order(&NewOrder::market("AAPL", Side::Buy, "10"))
        .await
        .unwrap();
    s.sim.control().set_fault(Fault::ErrorNext {
        status: 500,
        count: 1,
    });
    assert_eq!(
        s.account
            .close_position("AAPL", &CloseAmount::Qty("5".into()))
            .await,
        Err(BrokerError::Upstream { status: 500 })
    );
    assert_eq!(s.calls("DELETE", "/v2/positions/AAPL"), 1);
    assert_eq!(s.account.position("AAPL").await.unwrap().qty, "10");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_reads_make_one_call() {
    let s = TestSim::start().await;
    // Slow answers, so every read arrives while the first is in flight.
    s.sim.control().set_fault(Fault::Latency { millis: 200 });
    let reads = (0..20).map(|_| {
        let account = s.account.clone();
        async move { account.account().await }
    });
    let results = futures_util::future::join_all(reads).await;
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_ok_and(|a| a.cash == "100000"))
    );
    assert_eq!(s.calls("GET", "/v2/account"), 1);
    // The same for tasks on other threads.
    s.sim.control().clear_faults();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let positions = s.account.clone();
            tokio::spawn(async move { positions.positions().await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(s.calls("GET", "/v2/positions"), 1);
    s.stop().await;
}

#[tokio::test]
async fn a_duplicate_id_stays_a_duplicate_after_a_try_that_did_not_reach_the_broker() {
    let s = TestSim::start().await;
    let order = NewOrder::market("AAPL", Side::Buy, "1").with_client_order_id("decision-2");
    let first = s.account.submit_order(&order).await.unwrap();
    // A 429 means the broker did not act; the 422 that follows is about
    // the earlier order, not one this call placed.
    s.sim.control().set_fault(Fault::RateLimitNext {
        count: 1,
        retry_after_secs: 0,
    });
    match s.account.submit_order(&order).await {
        Err(BrokerError::DuplicateClientOrderId { existing }) => assert_eq!(existing.id, first.id),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.calls("POST", "/v2/orders"), 3);
    assert_eq!(orders_with(&s, "decision-2").await, 1);
    s.stop().await;
}
