//! A stand-in origin on loopback for edge tests that must count or stall
//! what the edge asks: it publishes the demo event at a version the test
//! sets, answers conditional snapshot fetches with 304 as the real origin
//! does, counts every kind of call, and can answer slowly or never.

use bytes::Bytes;
use eventfront_domain::demo::{DEMO_SLUG, demo_draft};
use eventfront_domain::feed::AgendaChanges;
use eventfront_domain::snapshot::{self, ChangelogEntry, Snapshot};
use eventfront_domain::{Slug, conditional};
use http_body_util::{BodyExt, Full};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the stand-in answers snapshot fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Prompt,
    /// Every snapshot answer comes after this long.
    Slow(Duration),
    /// Snapshot requests are taken and never answered.
    Hung,
    /// The next conditional fetch is answered 304 after this long whatever
    /// the current version (an answer computed just before a publish);
    /// later ones are prompt.
    LateNotModified(Duration),
}

#[derive(Default)]
pub struct Calls {
    /// `GET /_origin/events`.
    pub lists: AtomicUsize,
    /// Snapshot fetches without `If-None-Match`: cold reads.
    pub full: AtomicUsize,
    /// Snapshot fetches with `If-None-Match`: revalidations.
    pub conditional: AtomicUsize,
    /// Late 304s (`Behaviour::LateNotModified`) sent.
    pub late_answers: AtomicUsize,
    /// Snapshot fetches of events it does not publish.
    pub unknown: AtomicUsize,
}

struct State {
    version: AtomicU64,
    behaviour: Mutex<Behaviour>,
    calls: Calls,
}

pub struct FakeOrigin {
    pub url: String,
    state: Arc<State>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeOrigin {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeOrigin {
    /// Serves the demo event at version 1.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(State {
            version: AtomicU64::new(1),
            behaviour: Mutex::new(Behaviour::Prompt),
            calls: Calls::default(),
        });
        let serving = state.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = serving.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let state = state.clone();
                        async move { Ok::<_, std::convert::Infallible>(answer(&state, request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { url, state, server }
    }

    pub fn calls(&self) -> &Calls {
        &self.state.calls
    }

    /// Publishes `version` (without telling any edge).
    pub fn publish(&self, version: u64) {
        self.state.version.store(version, Ordering::SeqCst);
    }

    pub fn behave(&self, behaviour: Behaviour) {
        *self.state.behaviour.lock().unwrap() = behaviour;
    }
}

/// The demo event as published at `version`.
pub fn demo_snapshot(version: u64) -> Snapshot {
    snapshot::build(
        &Slug::parse(DEMO_SLUG).unwrap(),
        &demo_draft(),
        ChangelogEntry {
            version,
            published_at: "2027-01-01T00:00:00Z".parse().unwrap(),
            note: "demo".into(),
            changes: AgendaChanges::default(),
        },
        &[],
        "http://127.0.0.1:3000",
    )
}

async fn answer(
    state: &State,
    request: hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let _ = body.collect().await;
    let reply = |status: u16, body: Bytes| {
        let mut response = hyper::Response::new(Full::new(body));
        *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
        response
    };
    let path = parts.uri.path();
    if path == "/_origin/events" {
        state.calls.lists.fetch_add(1, Ordering::SeqCst);
        let list = serde_json::json!({ "events": [{ "slug": DEMO_SLUG }] });
        return reply(200, Bytes::from(list.to_string()));
    }
    let Some(slug) = path
        .strip_prefix("/_origin/events/")
        .and_then(|rest| rest.strip_suffix("/snapshot"))
    else {
        return reply(404, Bytes::new());
    };
    if slug != DEMO_SLUG {
        state.calls.unknown.fetch_add(1, Ordering::SeqCst);
        return reply(404, Bytes::new());
    }
    let if_none_match = parts
        .headers
        .get(http::header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    let counter = match if_none_match {
        Some(_) => &state.calls.conditional,
        None => &state.calls.full,
    };
    counter.fetch_add(1, Ordering::SeqCst);
    let behaviour = *state.behaviour.lock().unwrap();
    match behaviour {
        Behaviour::Prompt => {}
        Behaviour::Slow(delay) => tokio::time::sleep(delay).await,
        Behaviour::Hung => std::future::pending::<()>().await,
        Behaviour::LateNotModified(delay) if if_none_match.is_some() => {
            *state.behaviour.lock().unwrap() = Behaviour::Prompt;
            tokio::time::sleep(delay).await;
            state.calls.late_answers.fetch_add(1, Ordering::SeqCst);
            return reply(304, Bytes::new());
        }
        Behaviour::LateNotModified(_) => {}
    }
    let version = state.version.load(Ordering::SeqCst);
    if conditional::none_match(if_none_match, &Snapshot::etag_for(version)) {
        return reply(304, Bytes::new());
    }
    reply(
        200,
        Bytes::from(serde_json::to_vec(&demo_snapshot(version)).unwrap()),
    )
}
