//! A Jepsen-style set check of registration through an edge whose link to
//! the origin fails and heals at random moments (refused outright, or the
//! request delivered and its answer lost): 300 registrations from
//! 30 concurrent clients for 100 seats, each client retrying with its key
//! and honouring `Retry-After`. Afterwards every acknowledged registration
//! exists exactly once, nothing exists that was not asked for, at most 100
//! are confirmed, and waitlist positions are dense and in order.

use serde_json::{Value, json};
use spin_test_host::LinkFault;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use system_tests::{EdgeApp, Lcg, OriginApp, json as body_json, registration};

const CLIENTS: usize = 30;
const EACH: usize = 10;
const SEATS: u64 = 100;
const SLUG: &str = "wasm-edge-summit-2027";

#[derive(Default)]
struct History {
    attempts: AtomicUsize,
    acknowledged: AtomicUsize,
    unavailable: AtomicUsize,
    cuts: AtomicUsize,
    lost_answers: AtomicUsize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_survive_a_flapping_link_exactly_once() {
    // Bound first and kept, so that the edge cannot be given this port.
    let reserved = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let origin_addr = reserved.local_addr().unwrap();
    let edge = EdgeApp::start("eu", &format!("http://{origin_addr}"), |o| {
        o.variable("registrations_per_minute", "0")
    })
    .await;
    let origin = OriginApp::start(|o| {
        o.variable("edge_urls", edge.server.url())
            .variable("registrations_per_minute", "0")
    })
    .await;
    let _served = spin_test_host::Server::on(origin.app.clone(), reserved).unwrap();
    let seats = origin
        .admin("GET", &format!("/api/admin/events/{SLUG}/draft"), None)
        .await;
    let mut event = body_json(&seats)["event"].clone();
    event["registration"] = json!({"open": true, "capacity": SEATS, "confirm_email": false});
    let set = origin
        .admin("PUT", &format!("/api/admin/events/{SLUG}"), Some(event))
        .await;
    assert_eq!(set.status(), 200, "{:?}", set.body());
    let published = origin
        .admin(
            "POST",
            &format!("/api/admin/events/{SLUG}/publish"),
            Some(json!({"note": "seats"})),
        )
        .await;
    assert_eq!(published.status(), 201);

    let schedule = Lcg::seeded("SET_CHECK_SEED");
    let history = Arc::new(History::default());
    let done = Arc::new(AtomicBool::new(false));
    let link = origin_addr.to_string();
    let nemesis = {
        let (app, history, done, link) = (
            edge.app.clone(),
            history.clone(),
            done.clone(),
            link.clone(),
        );
        tokio::spawn(async move {
            let mut random = schedule;
            while !done.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(100 + random.next(300))).await;
                let fault = if random.next(2) == 0 {
                    history.cuts.fetch_add(1, Ordering::SeqCst);
                    LinkFault::Cut
                } else {
                    history.lost_answers.fetch_add(1, Ordering::SeqCst);
                    LinkFault::LoseAnswer
                };
                app.links().set(&link, fault);
                tokio::time::sleep(Duration::from_millis(100 + random.next(400))).await;
                app.links().heal(&link);
            }
        })
    };

    let clients = (0..CLIENTS).map(|c| {
        let (app, history) = (edge.app.clone(), history.clone());
        tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for n in 0..EACH {
                let (key, email) = (format!("set-{c}-{n}"), format!("p{c}-{n}@example.com"));
                loop {
                    history.attempts.fetch_add(1, Ordering::SeqCst);
                    let answer = app.send(registration(SLUG, &key, "P", &email)).await;
                    match answer.status().as_u16() {
                        201 => {
                            history.acknowledged.fetch_add(1, Ordering::SeqCst);
                            acknowledged.push((email, body_json(&answer)));
                            break;
                        }
                        503 => {
                            history.unavailable.fetch_add(1, Ordering::SeqCst);
                            let wait: u64 = answer.headers()["retry-after"]
                                .to_str()
                                .unwrap()
                                .parse()
                                .unwrap();
                            tokio::time::sleep(Duration::from_secs(wait)).await;
                        }
                        other => panic!("{key}: {other} {:?}", answer.body()),
                    }
                }
            }
            acknowledged
        })
    });
    let started = Instant::now();
    let acknowledged: Vec<(String, Value)> = futures::future::join_all(clients)
        .await
        .into_iter()
        .flat_map(Result::unwrap)
        .collect();
    done.store(true, Ordering::SeqCst);
    nemesis.await.unwrap();
    edge.app.links().heal(&link);

    let listing = body_json(
        &origin
            .admin(
                "GET",
                &format!("/api/admin/events/{SLUG}/registrations"),
                None,
            )
            .await,
    );
    let stored: Vec<&Value> = listing["registrations"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    println!(
        "history: {} attempts, {} acknowledged, {} answered 503, {} spells refused, \
         {} spells losing answers, {:.1} s; stored {} ({} confirmed, {} waitlisted)",
        history.attempts.load(Ordering::SeqCst),
        history.acknowledged.load(Ordering::SeqCst),
        history.unavailable.load(Ordering::SeqCst),
        history.cuts.load(Ordering::SeqCst),
        history.lost_answers.load(Ordering::SeqCst),
        started.elapsed().as_secs_f64(),
        stored.len(),
        listing["confirmed"],
        listing["waitlisted"],
    );

    // Every acknowledged registration exists exactly once, as answered.
    let by_id: HashMap<&str, &Value> = stored
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), *r))
        .collect();
    assert_eq!(by_id.len(), stored.len(), "no duplicate rows");
    assert_eq!(acknowledged.len(), CLIENTS * EACH);
    for (email, answer) in &acknowledged {
        let row = by_id[answer["id"].as_str().unwrap()];
        assert_eq!(row["email"].as_str(), Some(email.as_str()));
        assert_eq!(row["status"], answer["status"]);
    }
    // Nothing exists that was not asked for (and, every key retried to
    // the end, acknowledged).
    assert_eq!(stored.len(), acknowledged.len());
    let confirmed = stored.iter().filter(|r| r["status"] == "confirmed").count() as u64;
    assert_eq!(confirmed, SEATS, "at most the seats, and every seat taken");
    // Positions as answered are dense, and follow the order of the queue.
    let answered: BTreeMap<i64, &str> = acknowledged
        .iter()
        .filter(|(_, a)| a["status"] == "waitlisted")
        .map(|(_, a)| (a["position"].as_i64().unwrap(), a["id"].as_str().unwrap()))
        .collect();
    let queue: Vec<&str> = stored
        .iter()
        .filter(|r| r["status"] == "waitlisted")
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        answered.keys().copied().collect::<Vec<_>>(),
        (1..=queue.len() as i64).collect::<Vec<_>>()
    );
    assert_eq!(answered.into_values().collect::<Vec<_>>(), queue);
}
