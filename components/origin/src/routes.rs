//! Which handler answers which method and path. Everything but `/health`
//! must be signed by an edge; organizer routes also need the admin token.

use crate::auth::{precheck_edge, require_admin, require_edge};
use crate::db::Db;
use crate::error::OriginError;
use crate::request::Incoming;
use crate::{admin, publish, registration, sync};
use eventfront_domain::Slug;
use eventfront_domain::respond::{self, Reply};
use http::Method;
use spin_sdk::http::Request;

fn slug(s: &str) -> Result<Slug, OriginError> {
    Slug::parse(s).map_err(|_| OriginError::NotFound("There is no such resource."))
}

pub async fn route(request: Request) -> Result<Reply, OriginError> {
    // An unsigned or stale request is refused before its body is read.
    if request.uri().path() != "/health" {
        precheck_edge(request.headers()).await?;
    }
    let request = Incoming::read(request).await?;
    let path = request.path().to_string();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = request.method.clone();

    if segments == ["health"] {
        if method != Method::GET {
            return Err(OriginError::MethodNotAllowed { allow: "GET" });
        }
        let db = Db::open().await?;
        db.exec("SELECT 1", []).await?;
        return Ok(respond::json(
            200,
            &serde_json::json!({ "status": "ok", "database": "ok" }),
        ));
    }
    require_edge(&request).await?;
    let db = Db::open().await?;
    crate::schema::migrate(&db).await?;
    crate::demo::seed_if_wanted(&db).await?;
    let m = &method;
    match segments.as_slice() {
        ["_origin", "events"] => {
            only(m, "GET")?;
            sync::events(&db).await
        }
        ["_origin", "events", s, "snapshot"] => {
            only(m, "GET")?;
            sync::snapshot(&db, &slug(s)?, &request).await
        }
        ["api", "events", s, "registrations"] => {
            only(m, "POST")?;
            registration::register(&slug(s)?, &request).await
        }
        ["api", "registrations", id] => match *m {
            Method::GET => registration::show(&db, id, &request).await,
            Method::DELETE => registration::cancel(&db, id, &request).await,
            _ => Err(OriginError::MethodNotAllowed {
                allow: "GET, DELETE",
            }),
        },
        ["api", "admin", "events", s, rest @ ..] => {
            require_admin(&request).await?;
            let s = slug(s)?;
            match (rest, m.as_str()) {
                ([], "PUT") => admin::put_event(&db, &s, &request).await,
                ([], _) => Err(OriginError::MethodNotAllowed { allow: "PUT" }),
                (["draft"], "GET") => admin::get_draft(&db, &s).await,
                (["draft"], "PUT") => admin::put_draft(&db, &s, &request).await,
                (["draft"], _) => Err(OriginError::MethodNotAllowed { allow: "GET, PUT" }),
                (["sessions", id], "PUT") => {
                    admin::put_session(&db, &s, &slug(id)?, &request).await
                }
                (["sessions", id], "DELETE") => admin::delete_session(&db, &s, &slug(id)?).await,
                (["speakers", id], "PUT") => {
                    admin::put_speaker(&db, &s, &slug(id)?, &request).await
                }
                (["speakers", id], "DELETE") => admin::delete_speaker(&db, &s, &slug(id)?).await,
                (["sessions" | "speakers", _], _) => Err(OriginError::MethodNotAllowed {
                    allow: "PUT, DELETE",
                }),
                (["publish"], "POST") => publish::publish(&db, &s, &request).await,
                (["rollback"], "POST") => publish::rollback(&db, &s, &request).await,
                (["archive"], "POST") => publish::archive(&db, &s, &request).await,
                (["publish" | "rollback" | "archive"], _) => {
                    Err(OriginError::MethodNotAllowed { allow: "POST" })
                }
                (["registrations"], "GET") => admin::registrations(&db, &s, &request).await,
                (["audit"], "GET") => admin::audit_log(&db, &s).await,
                (["registrations" | "audit"], _) => {
                    Err(OriginError::MethodNotAllowed { allow: "GET" })
                }
                _ => Err(OriginError::NotFound("There is no such resource.")),
            }
        }
        _ => Err(OriginError::NotFound("There is no such resource.")),
    }
}

/// Refuses a method other than the one a resource accepts.
fn only(method: &Method, allowed: &'static str) -> Result<(), OriginError> {
    if method.as_str() == allowed {
        Ok(())
    } else {
        Err(OriginError::MethodNotAllowed { allow: allowed })
    }
}
