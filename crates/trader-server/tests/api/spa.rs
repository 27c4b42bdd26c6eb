//! The web app at `/`: files from the SPA folder, the fallback to
//! `index.html` for client routes (never for the server's own paths), cache
//! headers, precompressed files, the CSP, and the page shown when the app is
//! not built. A small fake `dist` folder stands in for trunk's output.

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_ENCODING, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use trader_db::Backend;

use crate::support::TestApp;

const INDEX: &str = "<!doctype html><html><head>\
<script type=\"module\" src=\"/boot-0123456789abcdef.js\"></script></head><body></body></html>";
const WASM: &str = "frontend-0123456789abcdef_bg.wasm";

/// A fake trunk output: index.html, a hashed wasm with a gzip copy, an
/// unhashed file.
fn fake_dist() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), INDEX).unwrap();
    std::fs::write(dir.path().join(WASM), b"\0asm raw").unwrap();
    std::fs::write(dir.path().join(format!("{WASM}.gz")), b"gzipped bytes").unwrap();
    std::fs::write(dir.path().join("robots.txt"), "User-agent: *\n").unwrap();
    std::fs::write(dir.path().join(".secret"), "hidden").unwrap();
    dir
}

async fn spawn_with_spa(backend: Backend, dist: &tempfile::TempDir) -> TestApp {
    let dir = dist.path().to_owned();
    TestApp::spawn_with(backend, move |s| s.spa_dir = dir).await
}

/// A client that neither decompresses nor follows redirects.
fn raw_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn index_and_client_routes_get_the_app_uncached(backend: Backend) {
    let dist = fake_dist();
    let app = spawn_with_spa(backend, &dist).await;
    let client = raw_client();
    for path in ["/", "/index.html", "/security", "/admin/users", "/tokens/"] {
        let res = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(res.headers()[CACHE_CONTROL], "no-cache", "{path}");
        assert_eq!(
            res.headers()[CONTENT_TYPE],
            "text/html; charset=utf-8",
            "{path}"
        );
        let csp = res.headers()[CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(csp, trader_server::middleware::CSP, "{path}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert!(csp.contains("'wasm-unsafe-eval'"), "{csp}");
        assert_eq!(res.text().await.unwrap(), INDEX, "{path}");
    }
    let head = client.head(app.url("/security")).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
}

async fn server_paths_never_fall_back_to_the_app(backend: Backend) {
    let dist = fake_dist();
    let app = spawn_with_spa(backend, &dist).await;
    let client = raw_client();
    for path in [
        "/api/nothing-here",
        "/api",
        "/metrics",
        "/docs/nothing-here.txt",
    ] {
        let res = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        let body = res.text().await.unwrap();
        assert_ne!(body, INDEX, "{path}");
    }
    let health = client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert!(health.text().await.unwrap().contains("ok"));
    // Other methods on a client route: the API's 404, not the app.
    let post = client.post(app.url("/security")).send().await.unwrap();
    assert_eq!(post.status(), StatusCode::NOT_FOUND);
    // A missing asset (it has an extension) and a hidden file: 404.
    for path in [
        "/frontend-ffffffffffffffff.js",
        "/.secret",
        "/a/%2E%2E/.secret",
    ] {
        let res = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

async fn hashed_assets_are_immutable_and_precompressed(backend: Backend) {
    let dist = fake_dist();
    let app = spawn_with_spa(backend, &dist).await;
    let client = raw_client();
    let url = app.url(&format!("/{WASM}"));

    let plain = client.get(&url).send().await.unwrap();
    assert_eq!(plain.status(), StatusCode::OK);
    assert_eq!(
        plain.headers()[CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(plain.headers()[CONTENT_TYPE], "application/wasm");
    assert!(plain.headers().get(CONTENT_ENCODING).is_none());
    assert_eq!(plain.bytes().await.unwrap().as_ref(), b"\0asm raw");

    let gz = client
        .get(&url)
        .header("accept-encoding", "br, gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gz.headers()[CONTENT_ENCODING], "gzip");
    assert_eq!(gz.headers()[CONTENT_TYPE], "application/wasm");
    assert_eq!(gz.headers()["vary"], "Accept-Encoding");
    assert_eq!(gz.bytes().await.unwrap().as_ref(), b"gzipped bytes");

    let refused = client
        .get(&url)
        .header("accept-encoding", "gzip;q=0")
        .send()
        .await
        .unwrap();
    assert!(refused.headers().get(CONTENT_ENCODING).is_none());

    let txt = client.get(app.url("/robots.txt")).send().await.unwrap();
    assert_eq!(txt.status(), StatusCode::OK);
    assert_eq!(txt.headers()[CACHE_CONTROL], "no-cache");
}

async fn without_a_built_app_the_root_says_how_to_build_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = raw_client().get(app.url("/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
    let body = res.text().await.unwrap();
    assert!(body.contains("scripts/build-spa"), "{body}");
    let api = raw_client()
        .get(app.url("/api/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::NOT_FOUND);
}

crate::api_tests!(
    index_and_client_routes_get_the_app_uncached,
    server_paths_never_fall_back_to_the_app,
    hashed_assets_are_immutable_and_precompressed,
    without_a_built_app_the_root_says_how_to_build_it,
);
