//! The HTTP contract in the repo (`docs/openapi.json`) against the real
//! components: every route the edge and the origin dispatch by is
//! documented with exactly its methods, the edge serves the document, and a
//! tour through every documented operation gets only documented statuses,
//! whose JSON bodies match their schemas.

use bytes::Bytes;
use eventfront_domain::access::Action;
use eventfront_domain::routes::Route;
use serde_json::{Value, json};
use spin_test_host::App;
use std::collections::BTreeSet;
use system_tests::{
    ADMIN_TOKEN, SIGNING_SECRET, admin_request, dev_app, json as body_json, organizer_request,
    sign_notice,
};

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// Pages: documented, but served from files rather than routed.
const PAGES: [&str; 2] = ["/", "/admin/"];

fn document() -> Value {
    let path = system_tests::workspace_root().join("docs/openapi.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn documented_methods(doc: &Value, template: &str) -> BTreeSet<String> {
    let item = &doc["paths"][template];
    METHODS
        .iter()
        .filter(|m| item.get(**m).is_some())
        .map(|m| m.to_uppercase())
        .collect()
}

#[test]
fn every_route_is_documented_with_exactly_its_methods() {
    let doc = document();
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1.")),
        "an OpenAPI 3.1 document"
    );
    for &route in Route::ALL {
        let wanted: BTreeSet<String> = route.methods().map(str::to_string).collect();
        assert_eq!(
            documented_methods(&doc, route.template()),
            wanted,
            "{} in docs/openapi.json",
            route.template()
        );
    }
    // The contract names the action (and so the roles) each organizer
    // operation needs, as the origin checks it.
    for &route in Route::ALL {
        for method in route.methods() {
            let operation = &doc["paths"][route.template()][method.to_lowercase()];
            let wanted = match (Action::of(route, method), route, method) {
                (Some(action), _, _) => serde_json::to_value(action).unwrap(),
                (None, Route::AdminSignIn | Route::AdminSignInLink, "POST") => json!("anyone"),
                (None, Route::AdminMe | Route::AdminSignIn, _) => json!("signed_in"),
                (None, _, _) => Value::Null,
            };
            assert_eq!(
                operation.get("x-action").cloned().unwrap_or(Value::Null),
                wanted,
                "x-action of {method} {}",
                route.template()
            );
        }
    }
    let routed: BTreeSet<&str> = Route::ALL.iter().map(|r| r.template()).collect();
    for path in doc["paths"].as_object().unwrap().keys() {
        assert!(
            routed.contains(path.as_str()) || PAGES.contains(&path.as_str()),
            "docs/openapi.json documents {path}, which nothing answers"
        );
    }
}

#[test]
fn every_schema_in_the_document_compiles() {
    let doc = document();
    for name in doc["components"]["schemas"].as_object().unwrap().keys() {
        validator(
            &doc,
            &json!({ "$ref": format!("#/components/schemas/{name}") }),
        )
        .unwrap_or_else(|e| panic!("schema {name}: {e}"));
    }
}

/// A validator for `schema`, with the document's components in reach of
/// its `$ref`s.
fn validator(doc: &Value, schema: &Value) -> Result<jsonschema::Validator, String> {
    let mut rooted = schema.clone();
    rooted["components"] = doc["components"].clone();
    jsonschema::draft202012::new(&rooted).map_err(|e| e.to_string())
}

/// Sends requests through the app and holds each answer to the document.
struct Tour {
    app: App,
    doc: Value,
    seen: BTreeSet<(String, String)>,
}

impl Tour {
    async fn send(&mut self, request: http::Request<Bytes>) -> http::Response<Bytes> {
        let method = request.method().as_str().to_lowercase();
        let path = request.uri().path().to_string();
        let response = self.app.send(request).await;
        let template = match Route::find(&path) {
            Some(found) => found.route.template().to_string(),
            None if PAGES.contains(&path.as_str()) => path.clone(),
            None => panic!("{path} is neither a route nor a documented page"),
        };
        self.check(&method, &template, &response);
        self.seen.insert((method, template));
        response
    }

    async fn get(&mut self, path: &str) -> http::Response<Bytes> {
        self.send(http::Request::get(path).body(Bytes::new()).unwrap())
            .await
    }

    async fn admin(&mut self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.organizer(ADMIN_TOKEN, method, path, body).await
    }

    async fn organizer(
        &mut self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let response = self
            .send(organizer_request(token, method, path, body))
            .await;
        assert!(
            response.status().is_success(),
            "{method} {path}: {} {}",
            response.status(),
            String::from_utf8_lossy(response.body())
        );
        if response.body().is_empty() {
            Value::Null
        } else if response
            .headers()
            .get("content-type")
            .is_some_and(|t| t.to_str().unwrap().contains("json"))
        {
            body_json(&response)
        } else {
            Value::Null
        }
    }

    /// The answer's status is documented for the operation, and a JSON body
    /// matches the schema documented for that status and media type.
    fn check(&self, method: &str, template: &str, response: &http::Response<Bytes>) {
        let what = format!("{} {template}", method.to_uppercase());
        let operation = &self.doc["paths"][template][method];
        assert!(operation.is_object(), "{what} is not documented");
        let status = response.status().as_u16();
        let responses = &operation["responses"];
        let range = format!("{}XX", status / 100);
        let documented = [status.to_string(), range, "default".to_string()]
            .into_iter()
            .find_map(|key| responses.get(&key))
            .unwrap_or_else(|| panic!("{what} answered {status}, which is not documented"));
        let documented = self.resolve(documented);
        if response.body().is_empty() {
            return;
        }
        let media = response
            .headers()
            .get("content-type")
            .map(|t| {
                t.to_str()
                    .unwrap()
                    .split(';')
                    .next()
                    .unwrap()
                    .trim()
                    .to_string()
            })
            .unwrap_or_else(|| panic!("{what} answered a body without a type"));
        let content = &documented["content"][&media];
        assert!(
            content.is_object(),
            "{what} answered {status} as {media}, which is not documented"
        );
        if !media.ends_with("json") {
            return;
        }
        let schema = &content["schema"];
        let validator = validator(&self.doc, schema).unwrap();
        let body = body_json(response);
        let errors: Vec<String> = validator
            .iter_errors(&body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{what} {status} does not match its schema:\n{}\nbody: {}",
            errors.join("\n"),
            String::from_utf8_lossy(response.body())
        );
    }

    /// A response object, following a `$ref` to the shared ones.
    fn resolve<'a>(&'a self, response: &'a Value) -> &'a Value {
        match response["$ref"].as_str() {
            Some(pointer) => self
                .doc
                .pointer(pointer.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("{pointer} is not in the document")),
            None => response,
        }
    }

    /// Every operation the document lists was taken at least once.
    fn assert_complete(&self) {
        let mut missing = Vec::new();
        for (template, item) in self.doc["paths"].as_object().unwrap() {
            for method in METHODS {
                if item.get(method).is_some()
                    && !self.seen.contains(&(method.to_string(), template.clone()))
                {
                    missing.push(format!("{} {template}", method.to_uppercase()));
                }
            }
        }
        assert!(missing.is_empty(), "the tour never took {missing:?}");
    }
}

fn registration(slug: &str, key: &str, body: &str, content_type: &str) -> http::Request<Bytes> {
    http::Request::post(format!("/api/events/{slug}/registrations"))
        .header("content-type", content_type)
        .header("idempotency-key", key)
        .body(Bytes::from(body.to_string()))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_documented_operation_answers_as_documented() {
    let app = dev_app(|o| {
        o.variable("admin_token", ADMIN_TOKEN)
            .variable("signing_secret", SIGNING_SECRET)
    })
    .await;
    let mut tour = Tour {
        app,
        doc: document(),
        seen: BTreeSet::new(),
    };

    // The edge serves the document itself, byte for byte.
    let served = tour.get("/api/openapi.json").await;
    assert_eq!(served.status(), 200);
    assert_eq!(body_json(&served), tour.doc);

    // Attendee reads, the exports and their misses.
    let events = body_json(&tour.get("/api/events").await);
    let slug = events["events"][0]["slug"].as_str().unwrap().to_string();
    let base = format!("/api/events/{slug}");
    let sessions = tour.get(&format!("{base}/sessions")).await;
    let session = body_json(&sessions)["sessions"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let speakers = body_json(&tour.get(&format!("{base}/speakers")).await);
    let speaker = speakers["speakers"][0]["id"].as_str().unwrap().to_string();
    for path in [
        "/api/health".to_string(),
        base.clone(),
        format!("{base}/sessions?day=2027-06-08&track=runtime&tz=UTC"),
        format!("{base}/sessions/{session}"),
        format!("{base}/sessions/{session}/session.ics"),
        format!("{base}/speakers/{speaker}"),
        format!("{base}/changelog"),
        format!("{base}/changelog.atom"),
        format!("{base}/schedule.ics"),
        format!("{base}/schedule.json"),
        format!("{base}/schedule.xml"),
        format!("{base}/seats"),
        "/_edge/status".to_string(),
        "/".to_string(),
        "/admin/".to_string(),
    ] {
        assert_eq!(tour.get(&path).await.status(), 200, "{path}");
    }
    for (path, status) in [
        (format!("{base}/sessions?day=tomorrow"), 400),
        (format!("{base}/sessions?track=no-such-track"), 400),
        (format!("{base}/schedule.ics?room=no-such-room"), 400),
        (format!("{base}/sessions/no-such-session"), 404),
        (format!("{base}/speakers/no-such-speaker"), 404),
        ("/api/events/no-such-event".to_string(), 404),
        ("/api/events/no-such-event/schedule.json".to_string(), 404),
    ] {
        assert_eq!(tour.get(&path).await.status(), status, "{path}");
    }
    let tag = sessions.headers()["etag"].clone();
    let again = http::Request::get(format!("{base}/sessions"))
        .header("if-none-match", tag)
        .body(Bytes::new())
        .unwrap();
    assert_eq!(tour.send(again).await.status(), 304);
    // A method a route does not take is refused with what it takes (not
    // an operation of the document, so not one of the tour's).
    let wrong_method = http::Request::delete(format!("{base}/sessions"))
        .body(Bytes::new())
        .unwrap();
    let refused = tour.app.send(wrong_method).await;
    assert_eq!(refused.status(), 405);
    assert_eq!(refused.headers()["allow"], "GET");

    // Registration: new, replayed, refused; then read and cancelled.
    let person = json!({ "name": "Ada Contract", "email": "ada@example.org" }).to_string();
    let register = || registration(&slug, "contract-1", &person, "application/json");
    let first = tour.send(register()).await;
    assert_eq!(first.status(), 201);
    let replay = tour.send(register()).await;
    assert_eq!(replay.body(), first.body());
    let other = json!({ "name": "Ada Other", "email": "ada@example.org" }).to_string();
    for (request, status) in [
        (
            registration(&slug, "contract-1", &other, "application/json"),
            422,
        ),
        (
            registration(&slug, "contract-2", "{}", "application/json"),
            422,
        ),
        (
            registration(&slug, "contract-3", &person, "text/plain"),
            415,
        ),
        (
            registration(&slug, "contract-4", "{", "application/json"),
            400,
        ),
        (
            registration("no-such-event", "contract-5", &person, "application/json"),
            404,
        ),
        (
            registration(&slug, "contract-6", &person, "application/json"),
            409,
        ),
    ] {
        assert_eq!(tour.send(request).await.status(), status);
    }
    let created = body_json(&first);
    let id = created["id"].as_str().unwrap().to_string();
    let token = created["manage_token"].as_str().unwrap().to_string();
    let manage_at = |method: &str, path: String, token: &str| {
        http::Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {token}"))
            .body(Bytes::new())
            .unwrap()
    };
    let manage =
        |method: &str, token: &str| manage_at(method, format!("/api/registrations/{id}"), token);
    assert_eq!(tour.send(manage("GET", &token)).await.status(), 200);
    assert_eq!(
        tour.send(manage("GET", "not-the-token")).await.status(),
        404
    );
    // A workshop of the demo's (it has seats) picked, picked again,
    // released; a session without seats and one unknown refused.
    let workshop = system_tests::workshop(&body_json(&sessions)["sessions"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let pick = |method: &str, session: &str| {
        let path = format!("/api/registrations/{id}/sessions/{session}");
        manage_at(method, path, &token)
    };
    for (method, picked, status) in [
        ("POST", workshop.as_str(), 201),
        ("POST", workshop.as_str(), 200),
        ("POST", session.as_str(), 409),
        ("POST", "no-such-session", 404),
        ("DELETE", workshop.as_str(), 200),
    ] {
        let answer = tour.send(pick(method, picked)).await;
        assert_eq!(
            answer.status(),
            status,
            "{method} {picked}: {:?}",
            answer.body()
        );
    }
    // Organizers list the workshop's seats (JSON and CSV) and give one by
    // hand: to a confirmed registration, never to another.
    let seats = format!("/api/admin/events/{slug}/sessions/{workshop}/seats");
    let listed = tour.admin("GET", &seats, None).await;
    assert_eq!(listed["session"], workshop.as_str());
    let csv = http::Request::get(&seats)
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .header("accept", "text/csv")
        .body(Bytes::new())
        .unwrap();
    assert_eq!(tour.send(csv).await.status(), 200);
    let shown = body_json(&tour.send(manage("GET", &token)).await);
    let gift = organizer_request(
        ADMIN_TOKEN,
        "POST",
        &seats,
        Some(json!({ "registration": id })),
    );
    let given = tour.send(gift).await;
    let expected = if shown["status"] == "confirmed" {
        200
    } else {
        409
    };
    assert_eq!(given.status(), expected, "{:?}", given.body());
    assert_eq!(tour.send(manage("GET", &token)).await.status(), 200);
    assert_eq!(tour.send(manage("DELETE", &token)).await.status(), 200);
    let erase = http::Request::delete(format!("/api/registrations/{id}?erase=true"))
        .header("authorization", format!("Bearer {token}"))
        .body(Bytes::new())
        .unwrap();
    assert_eq!(tour.send(erase).await.status(), 200);
    assert_eq!(tour.send(manage("GET", &token)).await.status(), 404);

    // Organizers: a new event drafted piece by piece, imported whole,
    // published, rolled back, listed, audited and archived.
    let unauthorized = http::Request::get(format!("/api/admin/events/{slug}/audit"))
        .body(Bytes::new())
        .unwrap();
    assert_eq!(tour.send(unauthorized).await.status(), 401);
    let new = "contract-conf";
    let admin = format!("/api/admin/events/{new}");
    tour.admin(
        "PUT",
        &admin,
        Some(json!({
            "name": "Contract Conf",
            "timezone": "Europe/Berlin",
            "starts_at": "2027-03-01T09:00:00+01:00",
            "ends_at": "2027-03-01T18:00:00+01:00",
            "tracks": [{ "id": "main", "name": "Main" }],
            "rooms": [{ "id": "hall", "name": "Hall", "capacity": 100 }],
            "registration": { "open": true, "capacity": 10, "hold_minutes": 45 }
        })),
    )
    .await;
    tour.admin(
        "PUT",
        &format!("{admin}/speakers/grace"),
        Some(json!({ "name": "Grace", "bio": "Compilers." })),
    )
    .await;
    tour.admin(
        "PUT",
        &format!("{admin}/sessions/opening"),
        Some(json!({
            "title": "Opening",
            "starts_at": "2027-03-01T09:00:00+01:00",
            "ends_at": "2027-03-01T09:30:00+01:00",
            "track": "main",
            "room": "hall",
            "speakers": ["grace"]
        })),
    )
    .await;
    let draft = tour.admin("GET", &format!("{admin}/draft"), None).await;
    tour.admin("PUT", &format!("{admin}/draft"), Some(draft))
        .await;
    let published = tour
        .admin(
            "POST",
            &format!("{admin}/publish"),
            Some(json!({ "note": "First" })),
        )
        .await;
    tour.admin("DELETE", &format!("{admin}/sessions/opening"), None)
        .await;
    tour.admin("DELETE", &format!("{admin}/speakers/grace"), None)
        .await;
    tour.admin(
        "POST",
        &format!("{admin}/publish"),
        Some(json!({ "note": "Emptied" })),
    )
    .await;
    tour.admin(
        "POST",
        &format!("{admin}/rollback"),
        Some(json!({ "version": published["version"], "note": "Back" })),
    )
    .await;
    // The new event confirms by email: held, then confirmed by the link.
    let person = json!({ "name": "Ada", "email": "ada@example.com" }).to_string();
    let held = tour
        .send(registration(
            new,
            "contract-held",
            &person,
            "application/json",
        ))
        .await;
    assert_eq!(held.status(), 202);
    let mail = tour.admin("GET", &format!("{admin}/outbox"), None).await;
    let link = mail["messages"][0]["links"]["confirm"].as_str().unwrap();
    let (path, confirm_token) = link.split_once("#token=").unwrap();
    let held_id = path.split('/').nth_back(1).unwrap().to_string();
    let confirm = |token: &str| {
        http::Request::post(format!("/api/registrations/{held_id}/confirm"))
            .header("authorization", format!("Bearer {token}"))
            .body(Bytes::new())
            .unwrap()
    };
    assert_eq!(tour.send(confirm(confirm_token)).await.status(), 200);
    assert_eq!(tour.send(confirm("not-the-token")).await.status(), 404);
    let erased = tour
        .admin(
            "DELETE",
            &format!("{admin}/registrations/{held_id}?erase=true"),
            None,
        )
        .await;
    assert_eq!(erased["erased"], true);
    tour.admin(
        "GET",
        &format!("/api/admin/events/{slug}/registrations"),
        None,
    )
    .await;
    let csv = http::Request::get(format!("/api/admin/events/{slug}/registrations"))
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .header("accept", "text/csv")
        .body(Bytes::new())
        .unwrap();
    assert_eq!(tour.send(csv).await.status(), 200);
    tour.admin("GET", &format!("{admin}/audit"), None).await;
    let outbox = tour
        .admin("GET", &format!("/api/admin/events/{slug}/outbox"), None)
        .await;
    let first_message = outbox["messages"][0]["id"].as_str().unwrap().to_string();
    tour.admin(
        "POST",
        &format!("/api/admin/events/{slug}/outbox/{first_message}/resend"),
        None,
    )
    .await;
    let webhook = format!("/api/admin/events/{slug}/webhook");
    tour.admin(
        "PUT",
        &webhook,
        Some(json!({ "url": "https://hooks.example.org/eventfront", "secret": "contract-secret-0123" })),
    )
    .await;
    tour.admin("GET", &webhook, None).await;
    tour.admin("DELETE", &webhook, None).await;

    // A waiting room: set and seen; at the edge, once the push reached
    // it, a ticket taken and its place told; a registration without a
    // ticket refused; then the room removed.
    let room = format!("/api/admin/events/{slug}/waiting-room");
    let opened = json!({ "opens_at": "2026-01-01T00:00:00Z", "per_minute": 600 });
    tour.admin("PUT", &room, Some(opened)).await;
    tour.admin("GET", &room, None).await;
    let take = || {
        http::Request::post(format!("{base}/waiting-room"))
            .body(Bytes::new())
            .unwrap()
    };
    // Watched in the live document: tickets taken meanwhile would count
    // against the client's limit.
    let live = format!("{base}/seats");
    system_tests::eventually("the room at the edge", async || {
        let counts = body_json(&tour.app.get(&live).await);
        match counts.get("waiting_room") {
            Some(_) => Ok(()),
            None => Err(counts),
        }
    })
    .await;
    let taken = tour.send(take()).await;
    assert_eq!(taken.status(), 201, "{:?}", taken.body());
    let taken = body_json(&taken);
    let ticket = taken["ticket"].as_str().unwrap();
    let place = |ticket: Option<&str>| {
        let mut request = http::Request::get(format!("{base}/waiting-room"));
        if let Some(ticket) = ticket {
            request = request.header("eventfront-ticket", ticket);
        }
        request.body(Bytes::new()).unwrap()
    };
    assert_eq!(tour.send(place(Some(ticket))).await.status(), 200);
    assert_eq!(tour.send(place(None)).await.status(), 403);
    let without = registration(&slug, "contract-room", &person, "application/json");
    assert_eq!(tour.send(without).await.status(), 403);
    tour.admin("DELETE", &room, None).await;
    tour.admin(
        "POST",
        &format!("{admin}/archive"),
        Some(json!({ "note": "Done" })),
    )
    .await;

    // Accounts: an owner and an editor, their tokens, a refusal by role,
    // revocations, and the bootstrap token turned off.
    let me = tour
        .admin("GET", &format!("/api/admin/me?event={new}"), None)
        .await;
    assert_eq!(me["event_actions"].as_array().unwrap().len(), 7, "{me}");
    let account = |email: &str, grants: Value| {
        Some(json!({ "email": email, "name": "Contract Person", "grants": grants }))
    };
    let owner = tour
        .admin(
            "POST",
            "/api/admin/accounts",
            account("owner@example.org", json!([{ "role": "owner" }])),
        )
        .await;
    let owner = owner["id"].as_str().unwrap().to_string();
    let editor = tour
        .admin(
            "POST",
            "/api/admin/accounts",
            account("editor@example.org", json!([{ "role": "viewer" }])),
        )
        .await;
    let editor = format!("/api/admin/accounts/{}", editor["id"].as_str().unwrap());
    tour.admin(
        "PUT",
        &editor,
        Some(json!({ "name": "Editor", "grants": [{ "role": "editor", "event": new }] })),
    )
    .await;
    tour.admin("GET", &editor, None).await;
    tour.admin("GET", "/api/admin/accounts", None).await;
    let mint = |grants: Option<Value>| {
        let mut body = json!({ "name": "contract" });
        if let Some(grants) = grants {
            body["grants"] = grants;
        }
        Some(body)
    };
    let owner_token = tour
        .admin(
            "POST",
            &format!("/api/admin/accounts/{owner}/tokens"),
            mint(None),
        )
        .await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let minted = tour
        .admin("POST", &format!("{editor}/tokens"), mint(None))
        .await;
    let editor_token = minted["token"].as_str().unwrap();
    let refused = tour
        .send(organizer_request(
            editor_token,
            "POST",
            &format!("{admin}/publish"),
            Some(json!({})),
        ))
        .await;
    assert_eq!(refused.status(), 403);
    tour.organizer(&owner_token, "GET", &format!("{editor}/tokens"), None)
        .await;
    // Browser sign-ins: opened with a token, listed, ended; a link asked for.
    let opened = tour
        .organizer(&owner_token, "POST", "/api/admin/sign-in", Some(json!({})))
        .await;
    let ended = format!("/api/admin/sign-ins/{}", opened["id"].as_str().unwrap());
    let browser = tour
        .send(organizer_request(
            editor_token,
            "POST",
            "/api/admin/sign-in",
            Some(json!({})),
        ))
        .await;
    assert_eq!(browser.status(), 201);
    let cookie = browser.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    let csrf = body_json(&browser)["csrf_token"]
        .as_str()
        .unwrap()
        .to_string();
    let sign_out = http::Request::delete("/api/admin/sign-in")
        .header("cookie", cookie)
        .header("x-csrf-token", csrf)
        .body(Bytes::new())
        .unwrap();
    assert_eq!(tour.send(sign_out).await.status(), 204);
    tour.organizer(
        &owner_token,
        "GET",
        &format!("/api/admin/accounts/{owner}/sign-ins"),
        None,
    )
    .await;
    tour.organizer(&owner_token, "DELETE", &ended, None).await;
    let ask = http::Request::post("/api/admin/sign-in-link")
        .header("content-type", "application/json")
        .body(Bytes::from(
            json!({ "email": "owner@example.org" }).to_string(),
        ))
        .unwrap();
    assert_eq!(tour.send(ask).await.status(), 202);
    let mail = tour
        .organizer(&owner_token, "GET", "/api/admin/outbox", None)
        .await;
    assert_eq!(mail["messages"][0]["kind"], "sign_in_link");
    let token = format!("/api/admin/tokens/{}", minted["id"].as_str().unwrap());
    tour.organizer(&owner_token, "DELETE", &token, None).await;
    tour.organizer(&owner_token, "DELETE", &editor, None).await;
    tour.organizer(&owner_token, "DELETE", "/api/admin/bootstrap-token", None)
        .await;
    let off = tour.send(admin_request("GET", "/api/admin/me", None)).await;
    assert_eq!(off.status(), 401);
    tour.organizer(&owner_token, "GET", "/api/admin/audit", None)
        .await;

    // The origin's notice to an edge: refused unsigned, taken signed.
    let notice = || {
        http::Request::post("/_edge/publish")
            .header("content-type", "application/json")
            .body(Bytes::from(
                json!({ "slug": slug, "version": 1 }).to_string(),
            ))
            .unwrap()
    };
    assert_eq!(tour.send(notice()).await.status(), 401);
    let signed = tour.send(sign_notice(notice(), SIGNING_SECRET)).await;
    assert!(signed.status().is_success(), "{}", signed.status());

    tour.assert_complete();
}
