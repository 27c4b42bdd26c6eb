//! Serves the single-page app (the `frontend` crate, built by trunk into
//! `frontend/dist`, or `SPA_DIR`) at `/`.
//!
//! - Files in the folder are served as they are; a path that names no file
//!   and has no extension is a client route and gets `index.html` (the SPA
//!   fallback). `/api`, `/docs`, `/healthz`, `/readyz` and `/metrics` never
//!   fall back: they keep their own answers (the API's JSON 404).
//! - trunk names assets with a content hash (`frontend-1a2b…_bg.wasm`): those
//!   are cached for a year, `immutable`; `index.html` and anything else is
//!   `no-cache`, so a new build is picked up at once.
//! - `name.br` / `name.gz` next to a file (scripts/build-spa writes them) are
//!   sent instead when the browser accepts that encoding.
//! - The CSP is the app's usual one (`crate::middleware::CSP`): the build
//!   moves trunk's inline bootstrap into a hashed module file
//!   (frontend/post-build.py), so no inline script or style needs
//!   allowing.
//! - Without a built app, `/` answers a short page saying how to build it.
//!
//! Wiring: `Spa::new(dir)` once, `.configure(|cfg| spa::configure(cfg, &spa))`
//! after the other routes.

use std::path::{Component, Path, PathBuf};

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, guard, web};
use trader_api_types::{ErrorBody, ErrorCode};

/// Paths that belong to the server and never get the SPA fallback.
const RESERVED: [&str; 5] = ["/api", "/docs", "/healthz", "/readyz", "/metrics"];

/// `Cache-Control` of content-hashed assets.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The page `/` shows when the SPA is not built.
const NOT_BUILT: &str = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>alpaca-trader</title></head><body>\
<h1>alpaca-trader</h1>\
<p>The web app is not built yet. Build it with <code>scripts/build-spa</code> \
(or start the server with <code>scripts/run</code>, which builds it first), \
then reload this page.</p>\
<p>The API is at <a href=\"/docs/\">/docs/</a>.</p>\
</body></html>\n";

/// Where the built SPA lives.
#[derive(Debug, Clone)]
pub struct Spa {
    dir: PathBuf,
}

impl Spa {
    /// The SPA in `dir` (it may not be built yet: it is looked at on each
    /// request, so a build while the server runs is served at once).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        if dir.join("index.html").is_file() {
            tracing::info!(dir = %dir.display(), "serving the web app");
        } else {
            tracing::warn!(
                dir = %dir.display(),
                "the web app is not built (scripts/build-spa); / explains how to build it"
            );
        }
        Self { dir }
    }
}

/// Whether `path` belongs to the server rather than to the SPA.
fn is_reserved(path: &str) -> bool {
    RESERVED.iter().any(|r| {
        path.strip_prefix(r)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// Registers the SPA: GET and HEAD of every path not reserved. Register it
/// after the other routes; everything else falls to the default service.
pub fn configure(cfg: &mut web::ServiceConfig, spa: &Spa) {
    cfg.app_data(web::Data::new(spa.clone())).service(
        web::resource("/{tail:.*}")
            .guard(guard::Any(guard::Get()).or(guard::Head()))
            .guard(guard::fn_guard(|ctx| !is_reserved(ctx.head().uri.path())))
            .to(serve),
    );
}

/// The file under `dir` a request path names, if the path is a safe
/// relative one (no `..`, no hidden files, no backslashes).
fn file_for(dir: &Path, tail: &str) -> Option<PathBuf> {
    let mut path = dir.to_path_buf();
    for segment in tail.split('/').filter(|s| !s.is_empty()) {
        if segment.starts_with('.') || segment.contains('\\') || segment.contains('\0') {
            return None;
        }
        path.push(segment);
    }
    // Belt and braces: only plain components below `dir`.
    path.strip_prefix(dir)
        .ok()?
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then_some(path)
}

/// Whether a file name carries trunk's content hash (`name-<16 hex>…`).
fn is_hashed(name: &str) -> bool {
    name.split(['-', '_', '.'])
        .any(|part| part.len() >= 16 && part.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "json" | "webmanifest" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// Whether the request's `Accept-Encoding` allows `coding` (a `q=0` refuses).
fn accepts(req: &HttpRequest, coding: &str) -> bool {
    req.headers()
        .get_all(header::ACCEPT_ENCODING)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            name.eq_ignore_ascii_case(coding) && !refused
        })
}

/// Reads a file off the async workers; `None` when it is not a file.
async fn read(path: PathBuf) -> Option<Vec<u8>> {
    web::block(move || {
        if path.is_file() {
            std::fs::read(&path).ok()
        } else {
            None
        }
    })
    .await
    .ok()
    .flatten()
}

/// A file, precompressed when the browser accepts it and a `.br`/`.gz` exists.
async fn file_response(
    req: &HttpRequest,
    path: PathBuf,
    cache: &'static str,
) -> Option<HttpResponse> {
    let mut chosen = None;
    for (coding, ext) in [("br", "br"), ("gzip", "gz")] {
        if !accepts(req, coding) {
            continue;
        }
        let mut name = path.clone().into_os_string();
        name.push(".");
        name.push(ext);
        if let Some(body) = read(PathBuf::from(name)).await {
            chosen = Some((body, Some(coding)));
            break;
        }
    }
    let (body, coding) = match chosen {
        Some(c) => c,
        None => (read(path.clone()).await?, None),
    };
    let mut res = HttpResponse::Ok();
    res.insert_header((header::CONTENT_TYPE, content_type(&path)))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::VARY, "Accept-Encoding"));
    if let Some(coding) = coding {
        res.insert_header((header::CONTENT_ENCODING, HeaderValue::from_static(coding)));
    }
    Some(res.body(body))
}

async fn serve(req: HttpRequest, spa: web::Data<Spa>) -> HttpResponse {
    let tail = req.match_info().get("tail").unwrap_or("").to_owned();
    let Some(path) = file_for(&spa.dir, &tail) else {
        return not_found();
    };
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if !tail.is_empty() && name != "index.html" {
        let cache = if is_hashed(name) {
            IMMUTABLE
        } else {
            "no-cache"
        };
        if let Some(res) = file_response(&req, path.clone(), cache).await {
            return res;
        }
        // A missing asset is a 404, not the app: a client route has no
        // extension.
        if name.contains('.') {
            return not_found();
        }
    }
    match file_response(&req, spa.dir.join("index.html"), "no-cache").await {
        Some(res) => res,
        None => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .body(NOT_BUILT),
    }
}

fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(ErrorBody::new(
        ErrorCode::NotFound,
        "there is nothing at this path",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_paths() {
        for p in [
            "/api", "/api/x", "/docs/", "/healthz", "/readyz", "/metrics",
        ] {
            assert!(is_reserved(p), "{p}");
        }
        for p in ["/", "/apis", "/security", "/docsx", "/admin/users"] {
            assert!(!is_reserved(p), "{p}");
        }
    }

    #[test]
    fn unsafe_paths_name_no_file() {
        let dir = Path::new("/srv/dist");
        assert_eq!(file_for(dir, "a/b.js"), Some(dir.join("a/b.js")));
        for bad in ["../etc/passwd", "a/../../x", ".env", "a\\b"] {
            assert_eq!(file_for(dir, bad), None, "{bad}");
        }
    }

    #[test]
    fn hashed_names() {
        assert!(is_hashed("frontend-3f2a9c0d1e2b4a5f_bg.wasm"));
        assert!(is_hashed("style-0123456789abcdef.css"));
        assert!(!is_hashed("index.html"));
        assert!(!is_hashed("favicon.ico"));
    }
}
