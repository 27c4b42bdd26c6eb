//! [`Broker`] (one per process) and [`AccountClient`] (one account's handle):
//! every Alpaca call the product makes.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use futures_util::FutureExt as _;
use http_endpoint::Endpoint;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use secrecy::ExposeSecret as _;
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use uuid::Uuid;

use crate::cache::{AccountKey, CacheKey, ReadCache};
use crate::config::{BrokerKeys, BrokerUrls, ClientConfig, ConfigError, Environment, Urls};
use crate::error::BrokerError;
use crate::transport::{Answer, Call, Retry, Transport};
use crate::types::{
    Account, Asset, Bar, BarsPage, BarsQuery, CalendarDay, CanceledOrder, Clock, CloseAmount,
    ClosedPosition, FillActivity, FillsPage, FillsQuery, ListOrders, MultiStatusItem, NewOrder,
    Order, OrderBody, OrderStatusFilter, PortfolioHistory, PortfolioHistoryQuery, Position,
    check_symbol,
};

const KEY_ID_HEADER: &str = "apca-api-key-id";
const SECRET_HEADER: &str = "apca-api-secret-key";

/// Alpaca's message for a reused client_order_id (ALPACA-API.md 2.3).
const DUPLICATE_ID_MESSAGE: &str = "client_order_id must be unique";

/// Pages of bars one call follows at most (1000 pages of up to 10,000 bars).
const MAX_BAR_PAGES: usize = 1000;

/// The broker client: an HTTP connection pool, the base URLs, the
/// configuration and the shared-read cache. Cheap to clone; make one per
/// process and hand out [`AccountClient`]s.
#[derive(Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Transport,
    urls: Urls,
    cache: ReadCache,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("urls", &self.inner.urls)
            .field("config", &self.inner.transport.config)
            .finish_non_exhaustive()
    }
}

impl Broker {
    /// A client for these URLs and settings.
    pub fn new(urls: BrokerUrls, config: ClientConfig) -> Result<Broker, ConfigError> {
        let urls = Urls::parse(&urls)?;
        let cache = ReadCache::new(config.cache_ttl);
        let transport = Transport::new(config)?;
        Ok(Broker {
            inner: Arc::new(Inner {
                transport,
                urls,
                cache,
            }),
        })
    }

    /// Drops the shared reads of an account, e.g. when its keys change (a
    /// read made with the old keys must not answer for the new ones).
    pub fn forget(&self, account: AccountKey) {
        for env in [Environment::Paper, Environment::Live, Environment::Sim] {
            self.inner.cache.forget(&(account, env));
        }
    }

    /// A handle on one account. `account` names it for shared reads (e.g.
    /// the server's trading account row id); `env` picks the base URLs.
    ///
    /// Fails with [`BrokerError::InvalidRequest`] for a `sim` account when no
    /// simulator URL is configured, or keys that cannot be HTTP header values.
    pub fn for_account(
        &self,
        account: AccountKey,
        env: Environment,
        keys: &BrokerKeys,
    ) -> Result<AccountClient, BrokerError> {
        let (trading, data) = self.inner.urls.for_env(env).ok_or_else(|| {
            BrokerError::InvalidRequest(format!("no base URL is configured for {env} accounts"))
        })?;
        let mut auth = HeaderMap::new();
        for (name, value) in [
            (KEY_ID_HEADER, keys.key_id.expose_secret()),
            (SECRET_HEADER, keys.secret_key.expose_secret()),
        ] {
            let mut v = HeaderValue::from_str(value).map_err(|_| {
                BrokerError::InvalidRequest(
                    "the API keys hold characters an HTTP header cannot carry".to_string(),
                )
            })?;
            // Kept out of debug output and HTTP/2 header compression tables.
            v.set_sensitive(true);
            auth.insert(HeaderName::from_static(name), v);
        }
        Ok(AccountClient {
            broker: self.clone(),
            key: (account, env),
            auth,
            trading,
            data,
        })
    }
}

/// One account's handle: its keys, base URLs and cache key. Cheap to clone.
///
/// Reads of the account, positions, open orders and the clock are shared
/// (see [`crate::cache`]); writes drop them.
#[derive(Clone)]
pub struct AccountClient {
    broker: Broker,
    key: CacheKey,
    auth: HeaderMap,
    trading: Url,
    data: Url,
}

impl std::fmt::Debug for AccountClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountClient")
            .field("account", &self.key.0)
            .field("env", &self.key.1)
            .field("trading", &self.trading.as_str())
            .finish_non_exhaustive()
    }
}

/// `url` with `path` appended to its own path.
fn join(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let prefix = base.path().trim_end_matches('/').to_string();
    url.set_path(&format!("{prefix}{path}"));
    url
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, BrokerError> {
    serde_json::from_slice(bytes).map_err(|e| BrokerError::Decode(e.to_string()))
}

/// Alpaca's `message` from an error body, else a short piece of the body,
/// else the status's name.
fn message_of(status: StatusCode, bytes: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        message: String,
    }
    if let Ok(b) = serde_json::from_slice::<ErrorBody>(bytes) {
        return b.message;
    }
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_lowercase()
    } else {
        text.chars().take(200).collect()
    }
}

/// The error for an answer that is not a success.
fn status_error(answer: &Answer) -> BrokerError {
    let message = message_of(answer.status, &answer.bytes);
    match answer.status.as_u16() {
        400 => BrokerError::BadRequest { message },
        401 => BrokerError::KeysRejected,
        403 => BrokerError::Forbidden { message },
        404 => BrokerError::NotFound { message },
        422 => BrokerError::Unprocessable { message },
        status => BrokerError::UnexpectedStatus { status, message },
    }
}

impl AccountClient {
    fn transport(&self) -> &Transport {
        &self.broker.inner.transport
    }

    fn cache(&self) -> &ReadCache {
        &self.broker.inner.cache
    }

    fn trading_url(&self, path: &str) -> Url {
        join(&self.trading, path)
    }

    /// Sends a call and keeps only successful answers. Errors are scrubbed
    /// of the keys.
    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        retry: Retry,
        deadline: Instant,
    ) -> Result<Answer, BrokerError> {
        let call = Call {
            method,
            url,
            body,
            retry,
        };
        let answer = self
            .transport()
            .send(&call, &self.auth, deadline)
            .await
            .map_err(|e| self.scrub(e))?;
        if answer.status.is_success() {
            Ok(answer)
        } else {
            Err(self.scrub(status_error(&answer)))
        }
    }

    fn scrub(&self, e: BrokerError) -> BrokerError {
        let key = |name| {
            self.auth
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
        };
        e.scrub(&[key(KEY_ID_HEADER), key(SECRET_HEADER)])
    }

    /// A GET with its own deadline, decoded.
    async fn get<T: DeserializeOwned>(&self, url: Url) -> Result<T, BrokerError> {
        let deadline = self.transport().deadline();
        self.get_by(url, deadline).await
    }

    async fn get_by<T: DeserializeOwned>(
        &self,
        url: Url,
        deadline: Instant,
    ) -> Result<T, BrokerError> {
        let answer = self
            .send(Method::GET, url, None, Retry::Read, deadline)
            .await?;
        decode(&answer.bytes).map_err(|e| self.scrub(e))
    }

    /// A call described by one of apca's endpoint definitions, sent through
    /// this crate's transport (see the crate docs for why not apca's
    /// client), decoded by apca.
    async fn apca<E: Endpoint>(&self, input: &E::Input) -> Result<E::Output, BrokerError> {
        let answer = self.apca_send::<E>(input).await?;
        E::parse(&answer.bytes).map_err(|e| self.scrub(BrokerError::Decode(e.to_string())))
    }

    /// The successful answer to one of apca's endpoint definitions.
    async fn apca_send<E: Endpoint>(&self, input: &E::Input) -> Result<Answer, BrokerError> {
        let conversion = |e: E::ConversionError| BrokerError::InvalidRequest(e.to_string());
        let mut url = self.trading_url(&E::path(input));
        url.set_query(E::query(input).map_err(conversion)?.as_deref());
        let body = E::body(input).map_err(conversion)?.map(|b| b.into_owned());
        let method = E::method();
        let retry = if method == Method::GET {
            Retry::Read
        } else {
            Retry::Once
        };
        self.send(method, url, body, retry, self.transport().deadline())
            .await
    }

    /// Drops this account's shared reads; called after every write,
    /// whatever its outcome (a write that timed out may still have acted).
    fn forget_reads(&self) {
        self.cache().forget(&self.key);
    }

    // ----- shared reads -------------------------------------------------

    /// `GET /v2/account`, never shared and never cached: to check keys
    /// before they are saved (no account id names them yet).
    pub async fn verify_keys(&self) -> Result<Account, BrokerError> {
        self.get(self.trading_url("/v2/account")).await
    }

    /// `GET /v2/account` (shared).
    pub async fn account(&self) -> Result<Account, BrokerError> {
        let this = self.clone();
        self.cache()
            .account
            .get(self.key, move || {
                async move { this.get(this.trading_url("/v2/account")).await }.boxed()
            })
            .await
    }

    /// `GET /v2/positions` (shared).
    pub async fn positions(&self) -> Result<Vec<Position>, BrokerError> {
        let this = self.clone();
        self.cache()
            .positions
            .get(self.key, move || {
                async move { this.get(this.trading_url("/v2/positions")).await }.boxed()
            })
            .await
    }

    /// `GET /v2/orders?status=open` (shared; Alpaca's first 50, newest first).
    pub async fn open_orders(&self) -> Result<Vec<Order>, BrokerError> {
        let this = self.clone();
        self.cache()
            .open_orders
            .get(self.key, move || {
                async move {
                    let mut url = this.trading_url("/v2/orders");
                    url.query_pairs_mut().append_pair("status", "open");
                    this.get(url).await
                }
                .boxed()
            })
            .await
    }

    /// `GET /v2/clock` (shared; through apca's definition).
    pub async fn clock(&self) -> Result<Clock, BrokerError> {
        let this = self.clone();
        self.cache()
            .clock
            .get(self.key, move || {
                async move {
                    let c = this.apca::<apca::api::v2::clock::Get>(&()).await?;
                    Ok(Clock {
                        timestamp: c.current,
                        is_open: c.open,
                        next_open: c.next_open,
                        next_close: c.next_close,
                    })
                }
                .boxed()
            })
            .await
    }

    // ----- other reads --------------------------------------------------

    /// `GET /v2/positions/{symbol}`.
    pub async fn position(&self, symbol: &str) -> Result<Position, BrokerError> {
        check_symbol(symbol)?;
        self.get(self.trading_url(&format!("/v2/positions/{symbol}")))
            .await
    }

    /// `GET /v2/orders` with filters (not shared).
    pub async fn orders(&self, query: &ListOrders) -> Result<Vec<Order>, BrokerError> {
        let mut url = self.trading_url("/v2/orders");
        {
            let mut q = url.query_pairs_mut();
            q.append_pair(
                "status",
                query.status.unwrap_or(OrderStatusFilter::Open).as_str(),
            );
            if let Some(limit) = query.limit {
                q.append_pair("limit", &limit.to_string());
            }
            if let Some(t) = query.after {
                q.append_pair("after", &rfc3339(t));
            }
            if let Some(t) = query.until {
                q.append_pair("until", &rfc3339(t));
            }
            if let Some(d) = query.direction {
                q.append_pair("direction", d.as_str());
            }
            if !query.symbols.is_empty() {
                q.append_pair("symbols", &query.symbols.join(","));
            }
            if let Some(side) = query.side {
                q.append_pair("side", side.as_str());
            }
        }
        self.get(url).await
    }

    /// `GET /v2/orders/{id}`.
    pub async fn order(&self, id: &str) -> Result<Order, BrokerError> {
        let id = order_id(id)?;
        self.get(self.trading_url(&format!("/v2/orders/{id}")))
            .await
    }

    /// `GET /v2/orders:by_client_order_id`.
    pub async fn order_by_client_order_id(
        &self,
        client_order_id: &str,
    ) -> Result<Order, BrokerError> {
        self.order_by_client_order_id_by(client_order_id, self.transport().deadline())
            .await
    }

    async fn order_by_client_order_id_by(
        &self,
        client_order_id: &str,
        deadline: Instant,
    ) -> Result<Order, BrokerError> {
        let mut url = self.trading_url("/v2/orders:by_client_order_id");
        url.query_pairs_mut()
            .append_pair("client_order_id", client_order_id);
        self.get_by(url, deadline).await
    }

    /// `GET /v2/account/activities/FILL`: one page. Follow
    /// `next_page_token` for more.
    pub async fn fills(&self, query: &FillsQuery) -> Result<FillsPage, BrokerError> {
        if query.page_size.is_some_and(|n| !(1..=100).contains(&n)) {
            return Err(BrokerError::InvalidRequest(
                "page_size must be 1 to 100".to_string(),
            ));
        }
        let page_size = query.page_size.unwrap_or(100);
        let mut url = self.trading_url("/v2/account/activities/FILL");
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("page_size", &page_size.to_string());
            if let Some(token) = &query.page_token {
                q.append_pair("page_token", token);
            }
            if let Some(t) = query.after {
                q.append_pair("after", &rfc3339(t));
            }
            if let Some(t) = query.until {
                q.append_pair("until", &rfc3339(t));
            }
            if let Some(d) = query.direction {
                q.append_pair("direction", d.as_str());
            }
        }
        let fills: Vec<FillActivity> = self.get(url).await?;
        // Alpaca has no "next" marker: a full page may have a successor,
        // whose token is the last id (ALPACA-API.md 2.7).
        let next_page_token = if fills.len() >= page_size as usize {
            fills.last().map(|f| f.id.clone())
        } else {
            None
        };
        Ok(FillsPage {
            fills,
            next_page_token,
        })
    }

    /// `GET /v2/account/portfolio/history`.
    pub async fn portfolio_history(
        &self,
        query: &PortfolioHistoryQuery,
    ) -> Result<PortfolioHistory, BrokerError> {
        let mut url = self.trading_url("/v2/account/portfolio/history");
        {
            let mut q = url.query_pairs_mut();
            if let Some(p) = &query.period {
                q.append_pair("period", p);
            }
            if let Some(tf) = &query.timeframe {
                q.append_pair("timeframe", tf);
            }
            if let Some(x) = query.extended_hours {
                q.append_pair("extended_hours", if x { "true" } else { "false" });
            }
            if let Some(d) = query.date_end {
                q.append_pair("date_end", &d.to_string());
            }
        }
        self.get(url).await
    }

    /// `GET /v2/calendar` from `start` to `end` (through apca's definition).
    pub async fn calendar(
        &self,
        start: NaiveDate,
        end: NaiveDate,
    ) -> Result<Vec<CalendarDay>, BrokerError> {
        use apca::api::v2::calendar;
        let days = self
            .apca::<calendar::List>(&calendar::ListReqInit::default().init(start, end))
            .await?;
        Ok(days
            .into_iter()
            .map(|d| CalendarDay {
                date: d.date,
                open: d.open,
                close: d.close,
            })
            .collect())
    }

    /// `GET /v2/assets?status=active&asset_class=us_equity`.
    pub async fn assets(&self) -> Result<Vec<Asset>, BrokerError> {
        let mut url = self.trading_url("/v2/assets");
        url.query_pairs_mut()
            .append_pair("status", "active")
            .append_pair("asset_class", "us_equity");
        self.get(url).await
    }

    /// `GET /v2/assets/{symbol}`.
    pub async fn asset(&self, symbol: &str) -> Result<Asset, BrokerError> {
        check_symbol(symbol)?;
        self.get(self.trading_url(&format!("/v2/assets/{symbol}")))
            .await
    }

    /// `GET /v2/stocks/bars` for many symbols, following `next_page_token`
    /// to the end and merging the pages per symbol. Each page is one call
    /// with its own deadline and tries.
    pub async fn bars(&self, query: &BarsQuery) -> Result<BTreeMap<String, Vec<Bar>>, BrokerError> {
        if query.symbols.is_empty() {
            return Err(BrokerError::InvalidRequest(
                "give at least one symbol".to_string(),
            ));
        }
        for s in &query.symbols {
            check_symbol(s)?;
        }
        if query.timeframe.is_empty() {
            return Err(BrokerError::InvalidRequest(
                "timeframe is required".to_string(),
            ));
        }
        let mut merged: BTreeMap<String, Vec<Bar>> = BTreeMap::new();
        let mut token: Option<String> = None;
        let mut seen = HashSet::new();
        for _ in 0..MAX_BAR_PAGES {
            let mut url = join(&self.data, "/v2/stocks/bars");
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("symbols", &query.symbols.join(","));
                q.append_pair("timeframe", &query.timeframe);
                if let Some(t) = query.start {
                    q.append_pair("start", &rfc3339(t));
                }
                if let Some(t) = query.end {
                    q.append_pair("end", &rfc3339(t));
                }
                if let Some(n) = query.limit {
                    q.append_pair("limit", &n.to_string());
                }
                if let Some(f) = &query.feed {
                    q.append_pair("feed", f);
                }
                if let Some(a) = &query.adjustment {
                    q.append_pair("adjustment", a);
                }
                if let Some(t) = &token {
                    q.append_pair("page_token", t);
                }
            }
            let page: BarsPage = self.get(url).await?;
            for (symbol, bars) in page.bars.unwrap_or_default() {
                merged.entry(symbol).or_default().extend(bars);
            }
            match page.next_page_token.filter(|t| !t.is_empty()) {
                None => return Ok(merged),
                Some(t) => {
                    if !seen.insert(t.clone()) {
                        return Err(BrokerError::Decode(
                            "the broker repeated a page token".to_string(),
                        ));
                    }
                    token = Some(t);
                }
            }
        }
        Err(BrokerError::Decode(format!(
            "more than {MAX_BAR_PAGES} pages of bars"
        )))
    }

    // ----- writes -------------------------------------------------------

    /// `POST /v2/orders`, safe to retry.
    ///
    /// The order always carries a client_order_id (a fresh uuid unless the
    /// caller gave one). After a timeout, a broken connection or a 5xx it is
    /// sent again with the same id within the call's deadline. If a repeat
    /// is refused (Alpaca's 422 "client_order_id must be unique", or a 403
    /// because the first order already holds the buying power), the order
    /// that the earlier try placed is fetched and returned: one decision,
    /// one order.
    ///
    /// If the caller's own id is already taken and no earlier try of this
    /// call can have placed the order (there was none, or it never reached
    /// the broker), the answer is [`BrokerError::DuplicateClientOrderId`]
    /// with the existing order.
    pub async fn submit_order(&self, order: &NewOrder) -> Result<Order, BrokerError> {
        order.check()?;
        let client_order_id = order
            .client_order_id
            .clone()
            .unwrap_or_else(|| Uuid::new_v4().to_string());
        let body = serde_json::to_vec(&OrderBody::new(order, &client_order_id))
            .map_err(|e| BrokerError::InvalidRequest(e.to_string()))?;
        let result = self.submit(body, &client_order_id, order).await;
        self.forget_reads();
        result
    }

    async fn submit(
        &self,
        body: Vec<u8>,
        client_order_id: &str,
        order: &NewOrder,
    ) -> Result<Order, BrokerError> {
        let deadline = self.transport().deadline();
        let call = Call {
            method: Method::POST,
            url: self.trading_url("/v2/orders"),
            body: Some(body),
            retry: Retry::Order,
        };
        let answer = self
            .transport()
            .send(&call, &self.auth, deadline)
            .await
            .map_err(|e| self.scrub(e))?;
        if answer.status.is_success() {
            return decode(&answer.bytes).map_err(|e| self.scrub(e));
        }
        let refusal = self.scrub(status_error(&answer));
        let reused_id = answer.status == StatusCode::UNPROCESSABLE_ENTITY
            && message_of(answer.status, &answer.bytes).contains(DUPLICATE_ID_MESSAGE);
        if !answer.after_uncertain_try {
            // Nothing this call sent before can have placed an order: a
            // reused id is the caller's own duplicate.
            if !reused_id {
                return Err(refusal);
            }
            let existing = self
                .order_by_client_order_id_by(client_order_id, deadline)
                .await?;
            return Err(BrokerError::DuplicateClientOrderId {
                existing: Box::new(existing),
            });
        }
        // A repeat was refused after a try that may have placed the order.
        match self
            .order_by_client_order_id_by(client_order_id, deadline)
            .await
        {
            // The order under this id is ours only if it is this order: a
            // script that reuses an id of an older, different order gets
            // the duplicate error, never the old order as if it were new.
            Ok(existing) if order.is_same_as(&existing) => {
                tracing::info!(
                    order_id = %existing.id,
                    "an order submitted again after a lost answer was already placed"
                );
                Ok(existing)
            }
            Ok(existing) => Err(BrokerError::DuplicateClientOrderId {
                existing: Box::new(existing),
            }),
            Err(BrokerError::NotFound { .. }) if !reused_id => Err(refusal),
            Err(e) => Err(e),
        }
    }

    /// `DELETE /v2/orders/{id}`: the cancel request was taken (204; through
    /// apca's definition). The body is not handed to apca, whose decoder
    /// asserts it is empty.
    pub async fn cancel_order(&self, id: &str) -> Result<(), BrokerError> {
        let id = order_id(id)?;
        let result = self
            .apca_send::<apca::api::v2::order::Delete>(&apca::api::v2::order::Id(id))
            .await;
        self.forget_reads();
        result.map(|_| ())
    }

    /// `DELETE /v2/orders`: asks to cancel every open order (207, one item
    /// per order).
    pub async fn cancel_all_orders(&self) -> Result<Vec<CanceledOrder>, BrokerError> {
        let result = self
            .multi_status(Method::DELETE, self.trading_url("/v2/orders"))
            .await;
        self.forget_reads();
        Ok(result?
            .into_iter()
            .map(|item| {
                let (order, message) = item.split();
                CanceledOrder {
                    id: item.id.unwrap_or_default(),
                    status: item.status,
                    order,
                    message,
                }
            })
            .collect())
    }

    /// `DELETE /v2/positions/{symbol}?qty=|percentage=`: the closing order.
    pub async fn close_position(
        &self,
        symbol: &str,
        amount: &CloseAmount,
    ) -> Result<Order, BrokerError> {
        check_symbol(symbol)?;
        let mut url = self.trading_url(&format!("/v2/positions/{symbol}"));
        match amount {
            CloseAmount::All => {}
            CloseAmount::Qty(q) => {
                url.query_pairs_mut().append_pair("qty", q);
            }
            CloseAmount::Percentage(p) => {
                url.query_pairs_mut().append_pair("percentage", p);
            }
        }
        let result = self
            .send(
                Method::DELETE,
                url,
                None,
                Retry::Once,
                self.transport().deadline(),
            )
            .await;
        self.forget_reads();
        decode(&result?.bytes).map_err(|e| self.scrub(e))
    }

    /// `DELETE /v2/positions?cancel_orders=`: closes every position (207,
    /// one item per position); `cancel_orders` first cancels open orders.
    pub async fn close_all_positions(
        &self,
        cancel_orders: bool,
    ) -> Result<Vec<ClosedPosition>, BrokerError> {
        let mut url = self.trading_url("/v2/positions");
        url.query_pairs_mut().append_pair(
            "cancel_orders",
            if cancel_orders { "true" } else { "false" },
        );
        let result = self.multi_status(Method::DELETE, url).await;
        self.forget_reads();
        Ok(result?
            .into_iter()
            .map(|item| {
                let (order, message) = item.split();
                ClosedPosition {
                    symbol: item.symbol.clone().unwrap_or_default(),
                    status: item.status,
                    order,
                    message,
                }
            })
            .collect())
    }

    async fn multi_status(
        &self,
        method: Method,
        url: Url,
    ) -> Result<Vec<MultiStatusItem>, BrokerError> {
        let answer = self
            .send(method, url, None, Retry::Once, self.transport().deadline())
            .await?;
        if answer.bytes.is_empty() {
            return Ok(Vec::new());
        }
        decode(&answer.bytes).map_err(|e| self.scrub(e))
    }
}

/// Alpaca's order ids are uuids; anything else cannot name an order (and
/// must not become a path such as `../account`).
fn order_id(id: &str) -> Result<Uuid, BrokerError> {
    Uuid::parse_str(id).map_err(|_| BrokerError::NotFound {
        message: "order not found".to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join_the_base_path() {
        let base = Url::parse("http://127.0.0.1:9/").unwrap();
        assert_eq!(
            join(&base, "/v2/orders:by_client_order_id").as_str(),
            "http://127.0.0.1:9/v2/orders:by_client_order_id"
        );
        let proxied = Url::parse("https://proxy.example/alpaca/").unwrap();
        assert_eq!(
            join(&proxied, "/v2/account").as_str(),
            "https://proxy.example/alpaca/v2/account"
        );
    }

    #[test]
    fn error_messages_come_from_alpacas_body() {
        let answer = |status: u16, body: &str| Answer {
            status: StatusCode::from_u16(status).unwrap(),
            bytes: body.as_bytes().to_vec(),
            after_uncertain_try: false,
        };
        assert_eq!(
            status_error(&answer(
                403,
                r#"{"code":40310000,"message":"insufficient buying power","buying_power":"1"}"#
            )),
            BrokerError::Forbidden {
                message: "insufficient buying power".into()
            }
        );
        assert_eq!(
            status_error(&answer(
                401,
                r#"{"code":40110000,"message":"request is not authorized"}"#
            )),
            BrokerError::KeysRejected
        );
        assert_eq!(
            status_error(&answer(422, "")),
            BrokerError::Unprocessable {
                message: "unprocessable entity".into()
            }
        );
        assert_eq!(
            status_error(&answer(409, "conflict here")),
            BrokerError::UnexpectedStatus {
                status: 409,
                message: "conflict here".into()
            }
        );
    }

    #[test]
    fn order_ids_must_be_uuids() {
        assert!(order_id("61e69015-8549-4bfd-b9c3-01e75843f47d").is_ok());
        assert!(matches!(
            order_id("../account"),
            Err(BrokerError::NotFound { .. })
        ));
    }

    #[tokio::test]
    async fn a_sim_account_needs_a_sim_url() {
        let broker = Broker::new(BrokerUrls::default(), ClientConfig::default()).unwrap();
        let keys = BrokerKeys::new("PK1", "s");
        assert!(matches!(
            broker.for_account(AccountKey(1), Environment::Sim, &keys),
            Err(BrokerError::InvalidRequest(_))
        ));
        let client = broker
            .for_account(AccountKey(1), Environment::Paper, &keys)
            .unwrap();
        let shown = format!("{client:?} {broker:?}");
        assert!(!shown.contains("PK1"), "{shown}");
        let bad = BrokerKeys::new("PK\n1", "s");
        assert!(
            broker
                .for_account(AccountKey(1), Environment::Paper, &bad)
                .is_err()
        );
    }
}
