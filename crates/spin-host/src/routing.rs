//! Chooses the component for an incoming request the way Spin's HTTP
//! trigger does (an exact route beats a wildcard, a longer wildcard prefix
//! beats a shorter one, private routes are never matched from outside) and
//! computes the `spin-*` headers Spin adds to the request.

use crate::manifest::{HttpTrigger, Route};

#[derive(Debug, Clone)]
pub struct Router {
    /// Public routes, most specific first.
    routes: Vec<RouteEntry>,
}

#[derive(Debug, Clone)]
struct RouteEntry {
    raw: String,
    /// The route without a trailing `/...`.
    prefix: String,
    wildcard: bool,
    component: String,
}

/// What the router found for a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    pub component: String,
    /// As written in the manifest, e.g. `/api/...`.
    pub raw_route: String,
    /// The route without `/...`, e.g. `/api`.
    pub component_route: String,
    /// The part of the path after the route, e.g. `/x/y` for `/api/x/y`.
    pub path_info: String,
}

impl Router {
    pub fn new(triggers: &[HttpTrigger]) -> Self {
        let mut routes: Vec<RouteEntry> = triggers
            .iter()
            .filter_map(|t| match &t.route {
                Route::Public(raw) => {
                    let (prefix, wildcard) = match raw.strip_suffix("/...") {
                        Some(p) => (p.to_string(), true),
                        None => (raw.trim_end_matches('/').to_string(), false),
                    };
                    Some(RouteEntry {
                        raw: raw.clone(),
                        prefix,
                        wildcard,
                        component: t.component.clone(),
                    })
                }
                Route::Private => None,
            })
            .collect();
        routes.sort_by_key(|r| (r.wildcard, std::cmp::Reverse(r.prefix.len())));
        Self { routes }
    }

    pub fn route(&self, path: &str) -> Option<RouteMatch> {
        let trimmed = if path.len() > 1 {
            path.trim_end_matches('/')
        } else {
            path
        };
        self.routes.iter().find_map(|r| {
            let path_info = if r.wildcard {
                let rest = trimmed.strip_prefix(r.prefix.as_str())?;
                if !(rest.is_empty() || rest.starts_with('/') || r.prefix.is_empty()) {
                    return None;
                }
                // Keep a trailing slash the client sent: it is part of path info.
                path[r.prefix.len()..].to_string()
            } else if trimmed == r.prefix || (r.prefix.is_empty() && trimmed == "/") {
                String::new()
            } else {
                return None;
            };
            Some(RouteMatch {
                component: r.component.clone(),
                raw_route: r.raw.clone(),
                component_route: r.prefix.clone(),
                path_info,
            })
        })
    }
}

/// The match Spin makes for a request reached through `<id>.spin.internal`:
/// a synthetic `/...` route whose path info is the whole path.
pub fn internal_match(component: &str, path: &str) -> RouteMatch {
    RouteMatch {
        component: component.to_string(),
        raw_route: "/...".to_string(),
        component_route: String::new(),
        path_info: path.to_string(),
    }
}

impl RouteMatch {
    /// The `spin-*` headers for this match, in the order Spin sets them.
    pub fn spin_headers(&self, full_url: &str, client_addr: &str) -> [(&'static str, String); 7] {
        [
            ("spin-full-url", full_url.to_string()),
            ("spin-path-info", self.path_info.clone()),
            ("spin-matched-route", self.raw_route.clone()),
            ("spin-base-path", "/".to_string()),
            ("spin-raw-component-route", self.raw_route.clone()),
            ("spin-component-route", self.component_route.clone()),
            ("spin-client-addr", client_addr.to_string()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trigger(route: &str, component: &str) -> HttpTrigger {
        HttpTrigger {
            route: Route::Public(route.into()),
            component: component.into(),
        }
    }

    fn router() -> Router {
        Router::new(&[
            trigger("/...", "catch-all"),
            trigger("/api/...", "api"),
            trigger("/api/admin/...", "admin"),
            trigger("/health", "health"),
            HttpTrigger {
                route: Route::Private,
                component: "hidden".into(),
            },
        ])
    }

    #[test]
    fn most_specific_route_wins() {
        let r = router();
        assert_eq!(r.route("/health").unwrap().component, "health");
        assert_eq!(r.route("/health/").unwrap().component, "health");
        assert_eq!(r.route("/healthz").unwrap().component, "catch-all");
        assert_eq!(r.route("/api").unwrap().component, "api");
        assert_eq!(r.route("/api/x").unwrap().component, "api");
        assert_eq!(r.route("/apix").unwrap().component, "catch-all");
        assert_eq!(r.route("/api/admin/y").unwrap().component, "admin");
        assert_eq!(r.route("/").unwrap().component, "catch-all");
    }

    #[test]
    fn private_routes_are_never_matched_from_outside() {
        let r = Router::new(&[HttpTrigger {
            route: Route::Private,
            component: "hidden".into(),
        }]);
        assert_eq!(r.route("/"), None);
        assert_eq!(r.route("/anything"), None);
    }

    #[test]
    fn headers_describe_the_match() {
        let m = router().route("/api/x/y").unwrap();
        let headers = m.spin_headers("http://h/api/x/y?q=1", "127.0.0.1:9");
        let get = |n: &str| headers.iter().find(|(k, _)| *k == n).unwrap().1.clone();
        assert_eq!(get("spin-path-info"), "/x/y");
        assert_eq!(get("spin-matched-route"), "/api/...");
        assert_eq!(get("spin-component-route"), "/api");
        assert_eq!(get("spin-raw-component-route"), "/api/...");
        assert_eq!(get("spin-full-url"), "http://h/api/x/y?q=1");
        assert_eq!(get("spin-client-addr"), "127.0.0.1:9");
        assert_eq!(get("spin-base-path"), "/");
    }

    #[test]
    fn internal_requests_see_the_whole_path() {
        let m = internal_match("hidden", "/a/b");
        assert_eq!(m.path_info, "/a/b");
        assert_eq!(m.raw_route, "/...");
        assert_eq!(m.component_route, "");
    }
}
