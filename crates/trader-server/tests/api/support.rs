use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use actix_web::dev::ServerHandle;
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{Value, json};
use trader_db::Backend;
use trader_db::test_support::TestDb;
use trader_server::clock::TestClock;
use trader_server::{Application, Settings};

/// Everything the server logged in this test binary, at TRACE level.
static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() -> Arc<Mutex<Vec<u8>>> {
    LOG.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = LogWriter(buffer.clone());
        // Everything at TRACE, except the test's own HTTP client (its
        // requests are not the server's logs).
        let filter = tracing_subscriber::EnvFilter::new(
            "trace,reqwest=off,hyper=off,hyper_util=off,h2=off,rustls=off,cookie_store=off",
        );
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .init();
        buffer
    })
    .clone()
}

/// A simulator with its clock pinned at `at`, in `mode`, without a rate
/// limit, on a free port.
pub async fn pinned_sim(
    at: chrono::DateTime<chrono::Utc>,
    mode: alpaca_sim::Mode,
) -> alpaca_sim::SimHandle {
    alpaca_sim::Simulator::start(
        alpaca_sim::SimConfig {
            clock: alpaca_sim::ClockMode::Fixed(at),
            mode,
            rate_limit_per_min: 0,
            ..alpaca_sim::SimConfig::default()
        },
        "127.0.0.1:0",
    )
    .await
    .unwrap()
}

/// The default password of test users.
pub const PASSWORD: &str = "correct horse battery staple";

/// A running server with its own database and clock.
pub struct TestApp {
    pub base: String,
    pub db: TestDb,
    pub clock: TestClock,
    pub data_dir: tempfile::TempDir,
    pub settings: Settings,
    /// The server's shared state (services can be called directly).
    pub state: actix_web::web::Data<trader_server::state::AppState>,
    handle: ServerHandle,
    secrets: Mutex<Vec<String>>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> Self {
        capture_logs();
        let db = TestDb::new(backend);
        let data_dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::for_tests(db.url().clone(), data_dir.path().to_owned());
        configure(&mut settings);
        let clock = TestClock::new();
        let app = Application::build_with_clock(settings.clone(), Arc::new(clock.clone()))
            .await
            .unwrap();
        let base = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        let state = app.state();
        tokio::spawn(app.run_until_stopped());
        Self {
            base,
            db,
            clock,
            data_dir,
            settings,
            state,
            handle,
            secrets: Mutex::new(Vec::new()),
        }
    }

    /// A second instance of the server on this app's database (its own
    /// data folder, settings otherwise the same), sharing this app's clock.
    pub async fn second_instance(&self) -> (String, ServerHandle, tempfile::TempDir) {
        let (base, handle, dir, _) = self.second_instance_state().await;
        (base, handle, dir)
    }

    /// [`TestApp::second_instance`], with its shared state (to call its
    /// services directly).
    pub async fn second_instance_state(
        &self,
    ) -> (
        String,
        ServerHandle,
        tempfile::TempDir,
        actix_web::web::Data<trader_server::state::AppState>,
    ) {
        self.second_instance_with(|_| {}).await
    }

    /// [`TestApp::second_instance_state`] with settings of its own.
    pub async fn second_instance_with(
        &self,
        configure: impl FnOnce(&mut Settings),
    ) -> (
        String,
        ServerHandle,
        tempfile::TempDir,
        actix_web::web::Data<trader_server::state::AppState>,
    ) {
        let data_dir = tempfile::tempdir().unwrap();
        let mut settings = self.settings.clone();
        settings.data_dir = data_dir.path().to_owned();
        configure(&mut settings);
        let app = Application::build_with_clock(settings, Arc::new(self.clock.clone()))
            .await
            .unwrap();
        let base = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        let state = app.state();
        tokio::spawn(app.run_until_stopped());
        (base, handle, data_dir, state)
    }

    /// Everything the server has logged in this test binary so far.
    pub fn log_text(&self) -> String {
        String::from_utf8_lossy(&capture_logs().lock().unwrap()).into_owned()
    }

    /// Remembers a secret that must never be logged.
    pub fn secret(&self, s: impl Into<String>) {
        let s = s.into();
        if s.len() >= 6 {
            self.secrets.lock().unwrap().push(s);
        }
    }

    /// A new cookie-keeping client, as a new browser.
    pub fn client(&self) -> Client {
        Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn setup_token(&self) -> String {
        let t = std::fs::read_to_string(self.data_dir.path().join("setup-token"))
            .unwrap()
            .trim()
            .to_owned();
        self.secret(t.clone());
        t
    }

    pub async fn get(&self, client: &Client, path: &str) -> Response {
        client.get(self.url(path)).send().await.unwrap()
    }

    /// A JSON request; `csrf` goes into `X-CSRF-Token`.
    pub async fn send(
        &self,
        client: &Client,
        method: Method,
        path: &str,
        body: Option<Value>,
        csrf: Option<&str>,
    ) -> Response {
        let mut req = client.request(method, self.url(path));
        if let Some(body) = body {
            req = req.json(&body);
        }
        if let Some(csrf) = csrf {
            req = req.header("X-CSRF-Token", csrf);
        }
        req.send().await.unwrap()
    }

    pub async fn post(
        &self,
        client: &Client,
        path: &str,
        body: Value,
        csrf: Option<&str>,
    ) -> Response {
        self.send(client, Method::POST, path, Some(body), csrf)
            .await
    }

    /// Registers the first admin with the setup token.
    pub async fn register_admin(&self, username: &str) {
        let client = self.client();
        let token = self.setup_token();
        self.secret(PASSWORD);
        let res = self
            .post(
                &client,
                "/api/auth/register",
                json!({"username": username, "email": format!("{username}@example.com"), "password": PASSWORD, "setup_token": token}),
                None,
            )
            .await;
        assert_eq!(
            res.status(),
            StatusCode::CREATED,
            "{}",
            res.text().await.unwrap()
        );
    }

    /// Creates a user straight in the database.
    pub fn create_user(
        &self,
        username: &str,
        role: trader_api_types::Role,
    ) -> trader_api_types::UserId {
        self.secret(PASSWORD);
        let hash = trader_security::hash_password(
            &trader_security::NewPassword::new(trader_security::SecretString::from(PASSWORD))
                .unwrap(),
        )
        .unwrap();
        let mut conn = self.db.conn();
        trader_db::users::create_user(
            &mut conn,
            &trader_db::users::NewUser {
                username,
                email: &format!("{username}@example.com"),
                password_hash: &hash,
                role,
                must_change_password: false,
            },
        )
        .unwrap()
        .id
    }

    /// Signs in (no 2FA); answers the session's CSRF token.
    pub async fn login(&self, client: &Client, username: &str, password: &str) -> String {
        self.secret(password);
        let res = self
            .post(
                client,
                "/api/auth/login",
                json!({"username": username, "password": password}),
                None,
            )
            .await;
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "login: {}",
            res.text().await.unwrap()
        );
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["two_factor_required"], false);
        let csrf = body["csrf_token"].as_str().unwrap().to_owned();
        self.secret(csrf.clone());
        csrf
    }

    /// A cookie-keeping client whose jar the test can read.
    pub fn browser(&self) -> (Client, Arc<reqwest::cookie::Jar>) {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let client = Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        (client, jar)
    }

    /// The `Cookie` header `jar` would send to this server.
    pub fn cookies(&self, jar: &reqwest::cookie::Jar) -> String {
        use reqwest::cookie::CookieStore;
        let value = jar
            .cookies(&self.base.parse().unwrap())
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        self.secret(value.clone());
        value
    }

    /// A request with exactly this `Cookie` header (a replayed cookie).
    pub async fn with_cookie(
        &self,
        method: Method,
        path: &str,
        cookie: &str,
        csrf: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut req = reqwest::Client::new()
            .request(method, self.url(path))
            .header("Cookie", cookie);
        if let Some(csrf) = csrf {
            req = req.header("X-CSRF-Token", csrf);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.unwrap()
    }

    /// Creates a token in a fresh sign-in; answers `(id, token)`.
    pub async fn create_token(&self, client: &Client, csrf: &str, scope: &str) -> (i64, String) {
        let res = self
            .post(
                client,
                "/api/tokens",
                json!({"name": format!("{scope} script"), "scopes": [scope], "expires_in_days": 30}),
                Some(csrf),
            )
            .await;
        assert_eq!(
            res.status(),
            StatusCode::CREATED,
            "{}",
            res.text().await.unwrap()
        );
        let body: Value = res.json().await.unwrap();
        let token = body["token"].as_str().unwrap().to_owned();
        self.secret(token.clone());
        (body["id"].as_i64().unwrap(), token)
    }

    pub async fn bearer(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Response {
        let mut req = reqwest::Client::new()
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.unwrap()
    }

    /// Audit events of `user`, oldest first.
    pub fn audit_events(&self, user: Option<trader_api_types::UserId>) -> Vec<String> {
        let mut conn = self.db.conn();
        let mut rows = trader_db::audit::list(&mut conn, user, None, 1000).unwrap();
        rows.reverse();
        rows.into_iter().map(|r| r.event).collect()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // The stop command is sent at once; the future only reports completion.
        drop(self.handle.stop(false));
        if std::thread::panicking() {
            return;
        }
        let log = String::from_utf8_lossy(&capture_logs().lock().unwrap()).into_owned();
        for (i, secret) in self.secrets.lock().unwrap().iter().enumerate() {
            if let Some(line) = log.lines().find(|l| contains_word(l, secret)) {
                panic!(
                    "secret #{i} ({} characters) reached the log: {}",
                    secret.len(),
                    line.replace(secret.as_str(), "<SECRET>")
                );
            }
        }
    }
}

/// Whether `secret` occurs in `line` as itself, not inside a longer run of
/// letters and digits (a 6-digit code can occur inside a timestamp's
/// microseconds by chance).
fn contains_word(line: &str, secret: &str) -> bool {
    let bytes = line.as_bytes();
    line.match_indices(secret).any(|(at, _)| {
        let before = at.checked_sub(1).map(|i| bytes[i]);
        let after = bytes.get(at + secret.len()).copied();
        !before.is_some_and(|b| b.is_ascii_alphanumeric())
            && !after.is_some_and(|b| b.is_ascii_alphanumeric())
    })
}

/// The error envelope's code, checking the envelope's shape on the way.
pub async fn error_code(res: Response) -> (StatusCode, String) {
    let status = res.status();
    let body: Value = res
        .json()
        .await
        .unwrap_or_else(|e| panic!("{status}: not JSON: {e}"));
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not the error envelope: {body}"))
        .to_owned();
    assert!(body["error"]["message"].is_string(), "{body}");
    (status, code)
}

/// Declares one async test per backend.
#[macro_export]
macro_rules! api_tests {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(trader_db::Backend::Sqlite).await } )+
        }
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(trader_db::Backend::Postgres).await } )+
        }
    };
}
