//! apca 0.31, the Rust client the product uses, against the simulator: every
//! trading endpoint apca covers (account, positions, orders, clock, calendar,
//! assets, activities), with the success and error statuses it accepts.

mod common;

use apca::api::v2::{
    account, account_activities, asset, assets, calendar, clock, order, orders, position, positions,
};
use apca::{ApiInfo, Client, RequestError};
use chrono::{Duration, NaiveDate};
use common::*;
use num_decimal::Num;

#[expect(
    clippy::unwrap_used,
    reason = "a test helper: failing loudly is the point"
)]
fn apca(sim: &alpaca_sim::SimHandle, key: &str, secret: &str) -> Client {
    Client::new(ApiInfo::from_parts(sim.base_url(), key, secret).unwrap())
}

fn market(symbol: &str, side: order::Side, qty: i64) -> order::CreateReq {
    order::CreateReqInit::default().init(symbol, side, order::Amount::quantity(qty))
}

#[tokio::test]
async fn account_clock_calendar_assets() {
    let sim = start_at(wednesday_10am()).await;
    let c = apca(&sim, KEY, SECRET);

    let acct = c.issue::<account::Get>(&()).await.unwrap();
    assert_eq!(acct.status, account::Status::Active);
    assert_eq!(acct.currency, "USD");
    assert_eq!(acct.cash, Num::from(100_000));
    assert_eq!(acct.equity, Num::from(100_000));
    assert_eq!(acct.last_equity, Num::from(100_000));
    assert_eq!(acct.multiplier, Num::from(2));
    assert_eq!(acct.buying_power, Num::from(200_000));

    let clk = c.issue::<clock::Get>(&()).await.unwrap();
    assert!(clk.open);
    assert_eq!(clk.current, wednesday_10am());
    assert_eq!(clk.next_close, t("2024-07-10T20:00:00Z"));
    assert_eq!(clk.next_open, t("2024-07-11T13:30:00Z"));

    let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
    let days = c
        .issue::<calendar::List>(
            &calendar::ListReqInit::default().init(d(2024, 11, 25), d(2024, 12, 31)),
        )
        .await
        .unwrap();
    let thanksgiving = d(2024, 11, 28);
    assert!(days.iter().all(|x| x.date != thanksgiving));
    let friday = days.iter().find(|x| x.date == d(2024, 11, 29)).unwrap();
    assert_eq!(friday.close.to_string(), "13:00:00");
    assert_eq!(days.last().unwrap().date, d(2024, 12, 31));

    let all = c
        .issue::<assets::List>(&assets::ListReq::default())
        .await
        .unwrap();
    assert!(all.len() >= 100);
    let aapl = c
        .issue::<asset::Get>(&asset::Symbol::Sym("AAPL".into()))
        .await
        .unwrap();
    assert_eq!(aapl.symbol, "AAPL");
    assert_eq!(aapl.exchange, asset::Exchange::Nasdaq);
    assert_eq!(aapl.class, asset::Class::UsEquity);
    let by_id = c
        .issue::<asset::Get>(&asset::Symbol::Id(aapl.id))
        .await
        .unwrap();
    assert_eq!(by_id.symbol, "AAPL");
    let missing = c
        .issue::<asset::Get>(&asset::Symbol::Sym("NOPE".into()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            missing,
            RequestError::Endpoint(asset::GetError::NotFound(_))
        ),
        "{missing:?}"
    );
    sim.stop().await;
}

#[tokio::test]
async fn wrong_secret_is_authentication_failed() {
    let sim = start_at(wednesday_10am()).await;
    apca(&sim, KEY, SECRET)
        .issue::<account::Get>(&())
        .await
        .unwrap();
    let err = apca(&sim, KEY, "other-secret")
        .issue::<account::Get>(&())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            RequestError::Endpoint(account::GetError::AuthenticationFailed(_))
        ),
        "{err:?}"
    );
    // A live-style key id on a paper simulator.
    let err = apca(&sim, "AKLIVE000000001", "s")
        .issue::<account::Get>(&())
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        RequestError::Endpoint(account::GetError::AuthenticationFailed(_))
    ));
    sim.stop().await;
}

#[tokio::test]
async fn orders_lifecycle() {
    let sim = start_at(wednesday_10am()).await;
    let c = apca(&sim, KEY, SECRET);

    // Market order: fills at once during the session.
    let mut req = market("AAPL", order::Side::Buy, 10);
    req.client_order_id = Some("apca-market-1".into());
    let filled = c.issue::<order::Create>(&req).await.unwrap();
    assert_eq!(filled.status, order::Status::Filled);
    assert_eq!(filled.filled_quantity, Num::from(10));
    assert_eq!(filled.class, order::Class::Simple);
    assert!(filled.legs.is_empty());
    assert!(filled.average_fill_price.is_some());

    let got = c.issue::<order::Get>(&filled.id).await.unwrap();
    assert_eq!(got.id, filled.id);
    let by_cid = c
        .issue::<order::GetByClientId>(&"apca-market-1".to_string())
        .await
        .unwrap();
    assert_eq!(by_cid.id, filled.id);

    // Limit order far below the market: stays open.
    let limit = order::CreateReqInit {
        type_: order::Type::Limit,
        limit_price: Some(Num::from(1)),
        time_in_force: order::TimeInForce::UntilCanceled,
        ..Default::default()
    }
    .init("MSFT", order::Side::Buy, order::Amount::quantity(5));
    let open = c.issue::<order::Create>(&limit).await.unwrap();
    assert_eq!(open.status, order::Status::New);
    assert_eq!(open.type_, order::Type::Limit);
    assert_eq!(open.time_in_force, order::TimeInForce::UntilCanceled);

    // Stop and stop-limit orders are accepted too.
    let stop = order::CreateReqInit {
        type_: order::Type::Stop,
        stop_price: Some(Num::from(5_000)),
        ..Default::default()
    }
    .init("NVDA", order::Side::Buy, order::Amount::quantity(1));
    let stop = c.issue::<order::Create>(&stop).await.unwrap();
    assert_eq!(stop.type_, order::Type::Stop);
    let stop_limit = order::CreateReqInit {
        type_: order::Type::StopLimit,
        stop_price: Some(Num::from(5_000)),
        limit_price: Some(Num::from(5_001)),
        ..Default::default()
    }
    .init("NVDA", order::Side::Buy, order::Amount::quantity(1));
    let stop_limit = c.issue::<order::Create>(&stop_limit).await.unwrap();
    assert_eq!(stop_limit.type_, order::Type::StopLimit);

    // Lists: open orders, closed ones, by symbol.
    let open_list = c
        .issue::<orders::List>(&orders::ListReq::default())
        .await
        .unwrap();
    assert_eq!(open_list.len(), 3);
    let closed = c
        .issue::<orders::List>(&orders::ListReq {
            status: orders::Status::Closed,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(closed.len(), 1);
    let msft = c
        .issue::<orders::List>(&orders::ListReq {
            symbols: vec!["MSFT".into()],
            status: orders::Status::All,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(msft.len(), 1);

    // Change: a new order replaces the old one.
    let change = order::ChangeReq {
        limit_price: Some(Num::from(2)),
        ..Default::default()
    };
    let replaced = c.issue::<order::Change>(&(open.id, change)).await.unwrap();
    assert_ne!(replaced.id, open.id);
    assert_eq!(replaced.limit_price, Some(Num::from(2)));
    let old = c.issue::<order::Get>(&open.id).await.unwrap();
    assert_eq!(old.status, order::Status::Replaced);

    // Cancel: 204; then 422 NotCancelable, and 404 for an unknown id.
    c.issue::<order::Delete>(&replaced.id).await.unwrap();
    let again = c.issue::<order::Delete>(&replaced.id).await.unwrap_err();
    assert!(
        matches!(
            again,
            RequestError::Endpoint(order::DeleteError::NotCancelable(_))
        ),
        "{again:?}"
    );
    let unknown = order::Id(uuid::Uuid::nil());
    let err = c.issue::<order::Get>(&unknown).await.unwrap_err();
    assert!(matches!(
        err,
        RequestError::Endpoint(order::GetError::NotFound(_))
    ));

    // Invalid input: 422 InvalidInput; not enough money: 403 NotPermitted.
    let bad = order::CreateReqInit {
        type_: order::Type::Limit,
        ..Default::default()
    }
    .init("AAPL", order::Side::Buy, order::Amount::quantity(1));
    let err = c.issue::<order::Create>(&bad).await.unwrap_err();
    assert!(
        matches!(
            err,
            RequestError::Endpoint(order::CreateError::InvalidInput(_))
        ),
        "{err:?}"
    );
    let huge = market("AAPL", order::Side::Buy, 1_000_000);
    let err = c.issue::<order::Create>(&huge).await.unwrap_err();
    match err {
        RequestError::Endpoint(order::CreateError::NotPermitted(e)) => {
            assert_eq!(e.unwrap().message, "insufficient buying power")
        }
        other => panic!("{other:?}"),
    }
    sim.stop().await;
}

#[tokio::test]
async fn notional_orders_and_positions() {
    let sim = start_at(wednesday_10am()).await;
    let c = apca(&sim, KEY, SECRET);
    let notional = order::CreateReqInit::default().init(
        "SPY",
        order::Side::Buy,
        order::Amount::notional(1000),
    );
    let o = c.issue::<order::Create>(&notional).await.unwrap();
    assert_eq!(o.status, order::Status::Filled);
    assert!(matches!(o.amount, order::Amount::Notional { .. }));

    c.issue::<order::Create>(&market("AAPL", order::Side::Buy, 10))
        .await
        .unwrap();
    sim.control().advance_clock(Duration::minutes(30));

    let list = c.issue::<positions::List>(&()).await.unwrap();
    assert_eq!(list.len(), 2);
    let aapl = c
        .issue::<position::Get>(&asset::Symbol::Sym("AAPL".into()))
        .await
        .unwrap();
    assert_eq!(aapl.quantity, Num::from(10));
    assert_eq!(aapl.side, position::Side::Long);
    assert_eq!(aapl.exchange, asset::Exchange::Nasdaq);

    let close = c
        .issue::<position::Delete>(&asset::Symbol::Sym("AAPL".into()))
        .await
        .unwrap();
    assert_eq!(close.side, order::Side::Sell);
    assert_eq!(close.status, order::Status::Filled);
    let err = c
        .issue::<position::Get>(&asset::Symbol::Sym("AAPL".into()))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        RequestError::Endpoint(position::GetError::NotFound(_))
    ));
    let err = c
        .issue::<position::Delete>(&asset::Symbol::Sym("AAPL".into()))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        RequestError::Endpoint(position::DeleteError::NotFound(_))
    ));

    // Short selling: a sell without a position opens a short.
    c.issue::<order::Create>(&market("TSLA", order::Side::Sell, 3))
        .await
        .unwrap();
    let tsla = c
        .issue::<position::Get>(&asset::Symbol::Sym("TSLA".into()))
        .await
        .unwrap();
    assert_eq!(tsla.side, position::Side::Short);
    assert_eq!(tsla.quantity, Num::from(3), "apca reads the absolute value");

    // Activities: one FILL per executed order.
    let acts = c
        .issue::<account_activities::Get>(&account_activities::ActivityReq {
            types: vec![account_activities::ActivityType::Fill],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(acts.len(), 4);
    let trades: Vec<_> = acts.into_iter().map(|a| a.into_trade().unwrap()).collect();
    assert_eq!(trades[0].symbol, "TSLA", "newest first");
    assert_eq!(trades[0].side, account_activities::Side::ShortSell);
    assert_eq!(trades[1].side, account_activities::Side::Sell);
    assert_eq!(trades[3].symbol, "SPY");

    let page = c
        .issue::<account_activities::Get>(&account_activities::ActivityReq {
            page_size: Some(2),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.len(), 2);
    let rest = c
        .issue::<account_activities::Get>(&account_activities::ActivityReq {
            page_token: Some(page[1].id().to_string()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(rest.len(), 2);
    sim.stop().await;
}
