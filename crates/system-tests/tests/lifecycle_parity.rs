//! The origin against the domain's lifecycle on random histories: an event
//! confirming by email, registrations, confirmations, cancellations,
//! capacity changes and time passing (the origin's clock moved, so holds
//! lapse), each step applied to the origin and to a `Book`, and after each
//! step every registration the organizer lists must stand where the book
//! says (status, seat or place in line), and the stored seat counts must
//! be the book's. It runs on whichever engine the
//! suite gives the origin, so SQLite and PostgreSQL are each held to the
//! one rule. The history comes from a seed, printed; `PARITY_SEED`
//! replays one.

use eventfront_domain::lifecycle::{Book, Confirmation, Entry};
use eventfront_domain::model::RegistrationSettings;
use serde_json::{Value, json};
use spin_test_host::clock::Clock;
use std::collections::BTreeMap;
use std::time::Duration;
use system_tests::{Lcg, OriginApp, json as body_json, registration, with_token};

const SLUG: &str = "parity";
const EVENT: &str = "/api/admin/events/parity";
const STEPS: usize = 60;
const HOLD_MINUTES: u32 = 30;

fn settings(capacity: u32) -> RegistrationSettings {
    RegistrationSettings {
        capacity: Some(capacity),
        confirm_email: true,
        hold_minutes: HOLD_MINUTES,
        ..RegistrationSettings::default()
    }
}

fn event(capacity: u32) -> Value {
    json!({
        "name": "Parity", "timezone": "UTC",
        "starts_at": "2027-06-08T09:00:00Z", "ends_at": "2027-06-08T18:00:00Z",
        "registration": {"open": true, "capacity": capacity, "confirm_email": true,
                         "hold_minutes": HOLD_MINUTES}
    })
}

fn now(clock: &Clock) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(clock.since_epoch().as_millis() as i64).unwrap()
}

/// The event with `capacity` seats, published again.
async fn republish(origin: &OriginApp, capacity: u32) {
    let changed = origin.admin("PUT", EVENT, Some(event(capacity))).await;
    assert_eq!(changed.status(), 200, "{:?}", changed.body());
    let published = origin
        .admin("POST", &format!("{EVENT}/publish"), Some(json!({})))
        .await;
    assert_eq!(published.status(), 201, "{:?}", published.body());
}

/// What the test holds of a registration: its links' tokens.
#[derive(Default)]
struct Links {
    confirm: String,
    manage: Option<String>,
}

/// The newest message's registration id and confirmation token.
async fn confirm_link_of_newest(origin: &OriginApp, email: &str) -> (String, String) {
    let listed = body_json(&origin.admin("GET", &format!("{EVENT}/outbox"), None).await);
    let message = listed["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["to"] == email && m["kind"] == "pending")
        .unwrap_or_else(|| panic!("no pending message to {email}: {listed:#}"));
    let link = message["links"]["confirm"].as_str().unwrap();
    let (path, token) = link.split_once("#token=").unwrap();
    let id = path
        .split("/registrations/")
        .nth(1)
        .unwrap()
        .trim_end_matches("/confirm");
    (id.to_string(), token.to_string())
}

/// Every registration as the organizer lists it: status and place in line.
async fn listed(origin: &OriginApp) -> BTreeMap<String, (String, Option<u64>)> {
    origin
        .registrations(SLUG)
        .await
        .iter()
        .map(|r| {
            let id = r["id"].as_str().unwrap().to_string();
            (
                id,
                (
                    r["status"].as_str().unwrap().to_string(),
                    r["position"].as_u64(),
                ),
            )
        })
        .collect()
}

/// Every registration as the book has it.
fn expected(book: &Book) -> BTreeMap<String, (String, Option<u64>)> {
    book.entries()
        .map(|e: &Entry| {
            let position = e.in_line().then(|| book.position(&e.id)).flatten();
            (
                e.id.clone(),
                (e.status.as_str().to_string(), position.map(u64::from)),
            )
        })
        .collect()
}

#[tokio::test]
async fn random_histories_leave_every_registration_where_the_lifecycle_says() {
    let mut random = Lcg::seeded("PARITY_SEED");
    let clock = Clock::default();
    let shared = clock.clone();
    let origin = OriginApp::start(move |mut o| {
        o.clock = shared;
        o
    })
    .await;
    let mut capacity = 2;
    origin.publish_event(SLUG, event(capacity)).await;
    let mut book = Book::whole(settings(capacity), []);
    let mut links: BTreeMap<String, Links> = BTreeMap::new();
    let mut people = 0;
    for step in 0..STEPS {
        let ids: Vec<String> = links.keys().cloned().collect();
        let pick = |n: u64| ids.get(n as usize % ids.len().max(1)).cloned();
        let what = match random.next(10) {
            0..=3 => {
                people += 1;
                let email = format!("p{people}@example.com");
                let key = format!("key-{people}");
                let at = now(&clock);
                let answer = origin.signed(registration(SLUG, &key, "Pat", &email)).await;
                assert_eq!(answer.status(), 202, "{:?}", answer.body());
                let (id, token) = confirm_link_of_newest(&origin, &email).await;
                book.lapse_due(at);
                book.admit(&id, at).expect("the event is open");
                links.insert(
                    id.clone(),
                    Links {
                        confirm: token,
                        manage: None,
                    },
                );
                format!("register {id}")
            }
            4..=5 => {
                let Some(id) = pick(random.next(1 << 16)) else {
                    continue;
                };
                let at = now(&clock);
                let answer = origin
                    .signed(with_token(
                        "POST",
                        format!("/api/registrations/{id}/confirm"),
                        &links[&id].confirm,
                    ))
                    .await;
                match book.confirm(&id, at) {
                    Ok(Confirmation::Made { .. } | Confirmation::AgainWithinHold { .. }) => {
                        assert_eq!(answer.status(), 200, "step {step}: confirm {id}");
                        let manage = body_json(&answer)["manage_token"]
                            .as_str()
                            .unwrap()
                            .to_string();
                        links.get_mut(&id).unwrap().manage = Some(manage);
                    }
                    Err(why) => assert_eq!(
                        answer.status(),
                        409,
                        "step {step}: confirm {id} refused ({why:?}) by the book"
                    ),
                }
                format!("confirm {id}")
            }
            6 => {
                let with_manage: Vec<&String> = links
                    .iter()
                    .filter(|(_, l)| l.manage.is_some())
                    .map(|(id, _)| id)
                    .collect();
                let Some(id) = with_manage
                    .get(random.next(1 << 16) as usize % with_manage.len().max(1))
                    .map(|id| id.to_string())
                else {
                    continue;
                };
                let at = now(&clock);
                let token = links[&id].manage.clone().unwrap();
                let answer = origin
                    .signed(with_token(
                        "DELETE",
                        format!("/api/registrations/{id}"),
                        &token,
                    ))
                    .await;
                assert_eq!(answer.status(), 200, "step {step}: cancel {id}");
                book.cancel(&id, at);
                format!("cancel {id}")
            }
            7 => {
                capacity = 1 + random.next(4) as u32;
                let at = now(&clock);
                republish(&origin, capacity).await;
                // A publish expires lapsed holds under the settings they
                // lapsed under, then applies its own.
                book.lapse_due(at);
                book.set_settings(settings(capacity));
                format!("capacity {capacity}")
            }
            _ => {
                // Whole minutes and 7 s: no hold ends within the
                // milliseconds between the test's clock and the origin's.
                let minutes = 1 + random.next(20);
                clock.advance(Duration::from_secs(minutes * 60 + 7));
                format!("wait {minutes} min")
            }
        };
        let at = now(&clock);
        book.lapse_due(at);
        assert_eq!(
            listed(&origin).await,
            expected(&book),
            "after step {step} ({what}); the seed is printed above"
        );
        // The counts decisions are made against, as the origin stored them
        // (none before the first registration).
        let stored = origin
            .rows(
                "SELECT coalesce(c.seated, 0), coalesce(c.waiting, 0)
                 FROM events e LEFT JOIN seat_counts c ON c.event = e.slug
                 WHERE e.slug = 'parity'",
            )
            .await;
        let ledger = book.ledger();
        assert_eq!(
            stored,
            [[json!(ledger.seated), json!(ledger.waiting)]],
            "counts after step {step} ({what})"
        );
    }
    let mut reached: BTreeMap<&str, usize> = BTreeMap::new();
    for entry in book.entries() {
        *reached.entry(entry.status.as_str()).or_default() += 1;
    }
    println!("after {STEPS} steps: {reached:?}");
}
