//! Which handler answers which method and path. Everything but `/health`
//! must be signed by an edge; organizer routes also need the admin token.

use crate::auth::{precheck_edge, require_admin, require_edge};
use crate::db::{Db, Reader};
use crate::error::OriginError;
use crate::request::Incoming;
use crate::{admin, outbox, publish, registration, sync, webhooks};
use eventfront_domain::Slug;
use eventfront_domain::respond::{self, Reply};
use eventfront_domain::routes::Route;
use http::Method;
use spin_sdk::http::Request;
use std::time::{Duration, Instant};

fn slug(s: &str) -> Result<Slug, OriginError> {
    Slug::parse(s).map_err(|_| OriginError::NotFound("There is no such resource."))
}

pub async fn route(request: Request) -> Result<Reply, OriginError> {
    if request.uri().path() == "/health" {
        return health(request.method()).await;
    }
    crate::config::get().await.check()?;
    // An unsigned or stale request is refused before its body is read, and
    // a body is read only as far as its route takes one.
    precheck_edge(request.headers()).await?;
    let limit = Route::find(request.uri().path()).map_or(NO_BODY, |found| found.route.body_limit());
    let request = Incoming::read(request, limit).await?;
    let path = request.path().to_string();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = request.method.clone();
    require_edge(&request).await?;
    crate::schema::ready().await?;
    // A connection of the request's own, opened only by the handlers that
    // use one: a registration reads and writes through the instance's kept
    // connections, and opening one it never uses costs as much as a query.
    let db = async || Db::open().await;
    let m = &method;
    match segments.as_slice() {
        ["_origin", "events"] => {
            only(m, "GET")?;
            return sync::events(&db().await?).await;
        }
        ["_origin", "events", s, "snapshot"] => {
            only(m, "GET")?;
            return sync::snapshot(&db().await?, &slug(s)?, &request).await;
        }
        _ => {}
    }
    let Some(found) = Route::find(&path).filter(|found| found.route.forwarded()) else {
        return Err(OriginError::NotFound("There is no such resource."));
    };
    if path.starts_with("/api/admin/") {
        require_admin(&request).await?;
    }
    if !found.route.accepts(m.as_str()) {
        return Err(OriginError::MethodNotAllowed {
            allow: found.route.allow(),
        });
    }
    let s = || slug(found.slug);
    let id = || slug(found.id);
    let reading = *m == Method::GET;
    let putting = *m == Method::PUT;
    match found.route {
        Route::Register => registration::register(&s()?, &request).await,
        Route::Registration if reading => registration::show(found.id, &request).await,
        Route::Registration => registration::cancel(found.id, &request).await,
        Route::ConfirmRegistration => registration::confirm(found.id, &request).await,
        Route::AdminEvent => admin::put_event(&db().await?, &s()?, &request).await,
        Route::AdminDraft if reading => admin::get_draft(&db().await?, &s()?).await,
        Route::AdminDraft => admin::put_draft(&db().await?, &s()?, &request).await,
        Route::AdminSession if putting => {
            admin::put_session(&db().await?, &s()?, &id()?, &request).await
        }
        Route::AdminSession => admin::delete_session(&db().await?, &s()?, &id()?).await,
        Route::AdminSpeaker if putting => {
            admin::put_speaker(&db().await?, &s()?, &id()?, &request).await
        }
        Route::AdminSpeaker => admin::delete_speaker(&db().await?, &s()?, &id()?).await,
        Route::AdminPublish => publish::publish(&db().await?, &s()?, &request).await,
        Route::AdminRollback => publish::rollback(&db().await?, &s()?, &request).await,
        Route::AdminArchive => publish::archive(&db().await?, &s()?, &request).await,
        Route::AdminRegistrations => admin::registrations(&db().await?, &s()?, &request).await,
        Route::AdminRegistration => {
            admin::cancel_registration(&db().await?, &s()?, found.id, &request).await
        }
        Route::AdminAudit => admin::audit_log(&db().await?, &s()?).await,
        Route::AdminOutbox => admin::outbox(&db().await?, &s()?).await,
        Route::AdminResend => outbox::resend(&db().await?, &s()?, found.id).await,
        Route::AdminWebhook if reading => webhooks::show(&db().await?, &s()?).await,
        Route::AdminWebhook if putting => webhooks::put(&db().await?, &s()?, &request).await,
        Route::AdminWebhook => webhooks::delete(&db().await?, &s()?).await,
        // The edge answers these itself.
        _ => Err(OriginError::NotFound("There is no such resource.")),
    }
}

/// What the origin reads of a request to a path no route names (its own
/// `/_origin/…` reads): they carry no body.
const NO_BODY: usize = 1024;

/// How long a healthy database answer is taken as still true.
const HEALTH_KEPT: Duration = Duration::from_secs(5);

/// `GET /health`, for anyone: whether the database answers, asked at most
/// once every few seconds per instance, and no body read, so that asking
/// often costs nothing.
async fn health(method: &Method) -> Result<Reply, OriginError> {
    if *method != Method::GET {
        return Err(OriginError::MethodNotAllowed { allow: "GET" });
    }
    // An instance that answers nothing else is not healthy.
    crate::config::get().await.check()?;
    let instance = crate::instance::instance();
    if instance
        .healthy_at
        .get()
        .is_none_or(|at| at.elapsed() >= HEALTH_KEPT)
    {
        Reader::get().await?.rows("SELECT 1 AS one", []).await?;
        instance.healthy_at.set(Some(Instant::now()));
    }
    Ok(respond::json(
        200,
        &serde_json::json!({ "status": "ok", "database": "ok" }),
    ))
}

/// Refuses a method other than the one a resource accepts.
fn only(method: &Method, allowed: &'static str) -> Result<(), OriginError> {
    if method.as_str() == allowed {
        Ok(())
    } else {
        Err(OriginError::MethodNotAllowed { allow: allowed })
    }
}
