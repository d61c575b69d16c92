//! Which handler answers which method and path. Everything but `/health`
//! must be signed by an edge; organizer routes also need an organizer's
//! token, and the roles that the route's action (`access::Action`) needs.

use crate::auth::{precheck_edge, require_edge};
use crate::db::{Db, Reader};
use crate::error::OriginError;
use crate::organizer::organizer;
use crate::request::Incoming;
use crate::{
    accounts, admin, outbox, publish, registration, session_seats, sign_ins, sync, waiting_room,
    webhooks,
};
use eventfront_domain::Slug;
use eventfront_domain::access::Action;
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
    let path = request.uri().path();
    let limit = match Route::find(path) {
        Some(found) => found.route.body_limit(),
        None if path.starts_with("/_origin/") && path.ends_with("/arrivals") => {
            waiting_room::MAX_REPORT
        }
        None => NO_BODY,
    };
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
        ["_origin", "events", s, "seats"] => {
            only(m, "GET")?;
            return sync::seats(&db().await?, &slug(s)?, &request).await;
        }
        ["_origin", "events", s, "arrivals"] => {
            only(m, "POST")?;
            return waiting_room::report(&db().await?, &slug(s)?, &request).await;
        }
        _ => {}
    }
    let Some(found) = Route::find(&path).filter(|found| found.route.forwarded()) else {
        return Err(OriginError::NotFound("There is no such resource."));
    };
    if !found.route.accepts(m.as_str()) {
        // Unknown to strangers which methods an organizer route takes.
        if path.starts_with("/api/admin/") {
            organizer(&db().await?, &request).await?;
        }
        return Err(OriginError::MethodNotAllowed {
            allow: found.route.allow(),
        });
    }
    let s = || slug(found.slug);
    let id = || slug(found.id);
    let reading = *m == Method::GET;
    let putting = *m == Method::PUT;
    let posting = *m == Method::POST;
    if !path.starts_with("/api/admin/") {
        return match found.route {
            Route::Register => registration::register(&s()?, &request).await,
            Route::Registration if reading => registration::show(found.id, &request).await,
            Route::Registration => registration::cancel(found.id, &request).await,
            Route::ConfirmRegistration => registration::confirm(found.id, &request).await,
            Route::RegistrationSession if posting => {
                session_seats::pick(found.id, found.session, &request).await
            }
            Route::RegistrationSession => {
                session_seats::release(found.id, found.session, &request).await
            }
            _ => Err(OriginError::NotFound("There is no such resource.")),
        };
    }
    // Who asks, then whether their roles allow it, before anything else.
    let db = db().await?;
    // Asking for a sign-in link, or opening a sign-in with one, is for
    // anyone: neither needs a token.
    let with_link = posting && request.header("authorization").is_none();
    match found.route {
        Route::AdminSignInLink => return sign_ins::send_link(&db, &request).await,
        Route::AdminSignIn if with_link => return sign_ins::redeem(&db, &request).await,
        _ => {}
    }
    let organizer = organizer(&db, &request).await?;
    if let Some(action) = Action::of(found.route, m.as_str()) {
        organizer.require(action, action.on_event().then_some(found.slug))?;
    }
    organizer.touch(&db).await?;
    let by = &organizer.actor;
    match found.route {
        Route::AdminMe => {
            let event = request.query("event").map(slug).transpose()?;
            let event = event.as_ref().map(Slug::as_str);
            Ok(respond::json(200, &organizer.describe(event)))
        }
        Route::AdminEvent => admin::put_event(&db, &s()?, &request, by).await,
        Route::AdminDraft if reading => admin::get_draft(&db, &s()?).await,
        Route::AdminDraft => admin::put_draft(&db, &s()?, &request, by).await,
        Route::AdminSession if putting => {
            admin::put_session(&db, &s()?, &id()?, &request, by).await
        }
        Route::AdminSession => admin::delete_session(&db, &s()?, &id()?, by).await,
        Route::AdminSessionSeats if reading => {
            session_seats::list(&db, &s()?, &id()?, &request).await
        }
        Route::AdminSessionSeats => session_seats::give(&db, &s()?, &id()?, &request, by).await,
        Route::AdminSpeaker if putting => {
            admin::put_speaker(&db, &s()?, &id()?, &request, by).await
        }
        Route::AdminSpeaker => admin::delete_speaker(&db, &s()?, &id()?, by).await,
        Route::AdminPublish => publish::publish(&db, &s()?, &request, by).await,
        Route::AdminRollback => publish::rollback(&db, &s()?, &request, by).await,
        Route::AdminArchive => publish::archive(&db, &s()?, &request, by).await,
        Route::AdminRegistrations => admin::registrations(&db, &s()?, &request).await,
        Route::AdminRegistration => {
            admin::cancel_registration(&db, &s()?, found.id, &request, by).await
        }
        Route::AdminAudit => {
            // Where organizers came from is for those who manage them.
            let addresses = organizer.may(Action::ManageAccounts, None);
            admin::audit_log(&db, Some(&s()?), addresses).await
        }
        Route::AdminAuditAll => admin::audit_log(&db, None, true).await,
        Route::AdminOutbox => admin::outbox(&db, Some(&s()?)).await,
        Route::AdminOutboxAll => admin::outbox(&db, None).await,
        Route::AdminResend => outbox::resend(&db, &s()?, found.id, by).await,
        Route::AdminWebhook if reading => webhooks::show(&db, &s()?).await,
        Route::AdminWebhook if putting => webhooks::put(&db, &s()?, &request, by).await,
        Route::AdminWebhook => webhooks::delete(&db, &s()?, by).await,
        Route::AdminWaitingRoom if reading => waiting_room::show(&db, &s()?).await,
        Route::AdminWaitingRoom if putting => waiting_room::put(&db, &s()?, &request, by).await,
        Route::AdminWaitingRoom => waiting_room::delete(&db, &s()?, by).await,
        Route::AdminAccounts if reading => accounts::list(&db).await,
        Route::AdminAccounts => accounts::create(&db, &request, by).await,
        Route::AdminAccount if reading => accounts::show(&db, found.id).await,
        Route::AdminAccount if putting => accounts::update(&db, found.id, &request, by).await,
        Route::AdminAccount => accounts::revoke(&db, found.id, by).await,
        Route::AdminAccountTokens if posting => accounts::mint(&db, found.id, &request, by).await,
        Route::AdminAccountTokens => accounts::tokens(&db, found.id).await,
        Route::AdminToken => accounts::revoke_token(&db, found.id, by).await,
        Route::AdminBootstrapToken => accounts::turn_off_bootstrap(&db, by).await,
        Route::AdminSignIn if posting => sign_ins::open(&db, &organizer, &request).await,
        Route::AdminSignIn => sign_ins::close(&db, &organizer).await,
        Route::AdminAccountSignIns => sign_ins::list(&db, found.id).await,
        Route::AdminSignInById => sign_ins::end(&db, found.id, by).await,
        // The edge answers these itself.
        _ => Err(OriginError::NotFound("There is no such resource.")),
    }
}

/// What the origin reads of a request to a path no route names (its own
/// `/_origin/…` reads, but for an edge's report of arrivals): they carry
/// no body.
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
