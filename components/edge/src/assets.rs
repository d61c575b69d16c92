//! The attendee and organizer pages: plain files from `static/`, mounted
//! at `/static` by the manifest, read once per instance, served with a
//! content type, an ETag and a cache policy (a year for fingerprinted
//! assets, revalidate-always for the rest), gzipped once per instance for
//! clients that accept it. Paths without a file extension are page URLs
//! and get their page's `index.html`, so deep links reload.

use crate::cache::{COMPRESS_FROM, gzip, gzipped_tag};
use crate::error::EdgeError;
use bytes::Bytes;
use eventfront_domain::respond::{self, Reply};
use eventfront_domain::snapshot::etag;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

const ROOT: &str = "/static";

/// A file as served: its type, and its bytes with their ETag as they are
/// and, for text worth compressing, gzipped.
#[derive(Clone)]
struct Served {
    kind: &'static str,
    plain: (String, Bytes),
    gzipped: Option<(String, Bytes)>,
}

const PAGE_POLICY: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

impl Served {
    fn new(file: &str, body: Bytes) -> Self {
        let kind = content_type(file);
        let compressible =
            kind.starts_with("text/") || kind.contains("json") || kind.contains("svg");
        let gzipped = (compressible && body.len() >= COMPRESS_FROM).then(|| gzip(&body));
        Self::tagged(kind, body, gzipped)
    }

    /// A file that comes compressed already.
    fn with_gzipped(file: &str, body: Bytes, gzipped: Bytes) -> Self {
        Self::tagged(content_type(file), body, Some(gzipped))
    }

    fn tagged(kind: &'static str, body: Bytes, gzipped: Option<Bytes>) -> Self {
        let plain_tag = etag(&body);
        let gzipped = gzipped.map(|g| (gzipped_tag(&plain_tag), g));
        Self {
            kind,
            plain: (plain_tag, body),
            gzipped,
        }
    }
}

/// Files already read in this instance, by path.
fn cache() -> &'static Mutex<HashMap<String, Served>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Served>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("webmanifest") => "application/manifest+json",
        Some("txt") => "text/plain; charset=utf-8",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// `app.3f9a2c1b.js`: a name with a hex segment of 8+ characters changes
/// whenever its content does, so it may be cached for good.
fn fingerprinted(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.split('.')
        .any(|part| part.len() >= 8 && part.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The file a request path names, if it names one safely; one name per
/// file (`//app.js` is `/app.js`), so that spellings of a path neither
/// read a file again nor keep another copy of it in memory.
fn resolve(path: &str) -> Option<String> {
    if path
        .split('/')
        .any(|seg| seg == ".." || seg.starts_with('.') && !seg.is_empty())
    {
        return None;
    }
    let segments: Vec<&str> = path.split('/').filter(|seg| !seg.is_empty()).collect();
    let path = format!("/{}", segments.join("/"));
    let last = segments.last().copied().unwrap_or("");
    let file = if last.contains('.') {
        path
    } else if path == "/admin" || path.starts_with("/admin/") {
        "/admin/index.html".to_string()
    } else {
        "/index.html".to_string()
    };
    Some(file)
}

/// The HTTP contract, built into the edge gzipped (see `build.rs`) so that
/// each deployment serves the one it implements.
const CONTRACT_GZ: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/openapi.json.gz"));

/// `docs/openapi.json`, as a file is served.
pub fn contract(if_none_match: Option<&str>, accepts_gzip: bool) -> Result<Reply, EdgeError> {
    // No file has this name: `/api/…` never resolves to one.
    reply("/api/openapi.json", if_none_match, accepts_gzip, || {
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(CONTRACT_GZ), &mut plain)
            .map_err(|e| EdgeError::Config(format!("the built-in contract is corrupt: {e}")))?;
        Ok(Served::with_gzipped(
            "/api/openapi.json",
            Bytes::from(plain),
            Bytes::from_static(CONTRACT_GZ),
        ))
    })
}

pub fn serve(
    path: &str,
    if_none_match: Option<&str>,
    accepts_gzip: bool,
) -> Result<Reply, EdgeError> {
    let file = resolve(path).ok_or(EdgeError::NotFound)?;
    reply(&file, if_none_match, accepts_gzip, || {
        let body = std::fs::read(format!("{ROOT}{file}")).map_err(|_| EdgeError::NotFound)?;
        Ok(Served::new(&file, Bytes::from(body)))
    })
}

/// Serves `file`, read with `load` the first time this instance needs it.
fn reply(
    file: &str,
    if_none_match: Option<&str>,
    accepts_gzip: bool,
    load: impl FnOnce() -> Result<Served, EdgeError>,
) -> Result<Reply, EdgeError> {
    let cached = cache()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(file)
        .cloned();
    let served = match cached {
        Some(entry) => entry,
        None => {
            let entry = load()?;
            cache()
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(file.to_string(), entry.clone());
            entry
        }
    };
    let gzipped = served.gzipped.as_ref().filter(|_| accepts_gzip);
    let (tag, body) = gzipped.unwrap_or(&served.plain);
    let mut reply = respond::conditional(if_none_match, tag, served.kind, body.clone());
    let policy = if fingerprinted(file) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let headers = reply.headers_mut();
    headers.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static(policy),
    );
    if served.kind.starts_with("text/html") {
        // Pages load only their own files, talk only to this edge, and may
        // not be framed (the organizer page holds a token).
        headers.insert(
            http::header::CONTENT_SECURITY_POLICY,
            http::HeaderValue::from_static(PAGE_POLICY),
        );
        headers.insert(
            http::header::X_CONTENT_TYPE_OPTIONS,
            http::HeaderValue::from_static("nosniff"),
        );
        headers.insert(
            http::header::REFERRER_POLICY,
            http::HeaderValue::from_static("same-origin"),
        );
    }
    if served.gzipped.is_some() {
        headers.insert(
            http::header::VARY,
            http::HeaderValue::from_static("Accept-Encoding"),
        );
    }
    if gzipped.is_some() {
        headers.insert(
            http::header::CONTENT_ENCODING,
            http::HeaderValue::from_static("gzip"),
        );
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_to_files_or_their_page() {
        assert_eq!(resolve("/").as_deref(), Some("/index.html"));
        assert_eq!(resolve("/sessions/keynote").as_deref(), Some("/index.html"));
        assert_eq!(resolve("/admin/").as_deref(), Some("/admin/index.html"));
        assert_eq!(resolve("/app.css").as_deref(), Some("/app.css"));
        assert_eq!(resolve("//app.css").as_deref(), Some("/app.css"));
        assert_eq!(resolve("/admin//app.js/").as_deref(), Some("/admin/app.js"));
        assert_eq!(resolve("//admin").as_deref(), Some("/admin/index.html"));
        assert_eq!(resolve("/../secret.txt"), None);
        assert_eq!(resolve("/.env"), None);
    }

    #[test]
    fn only_fingerprinted_names_are_immutable() {
        assert!(fingerprinted("/app.3f9a2c1b.js"));
        assert!(!fingerprinted("/app.js"));
        assert!(!fingerprinted("/index.html"));
        assert_eq!(content_type("/a.css"), "text/css; charset=utf-8");
    }
}
