//! The attendee and organizer pages in a real headless Chromium, against
//! the whole development app (edge, origin, demo event) served on
//! loopback by the test host. Screenshots land in `test-output/browser/`.

use bytes::Bytes;
use eventfront_domain::demo::DEMO_SLUG as DEMO;
use icalendar::Component;
use serde_json::{Value, json};
use spin_test_host::{App, AppOptions, LinkFault, Server};
use std::time::Duration;
use system_tests::browser::{Browser, until};
use system_tests::{
    ADMIN_TOKEN, admin_request, dev_app, eventually, json as body_json, registration,
};

/// One browser at a time: three Chromiums on two cores only slow each other.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const KEYNOTE: &str = "opening-keynote-webassembly-s-next-five-years";
/// The browser's own zone, far from the event's (Europe/Lisbon).
const VIEWER_ZONE: &str = "Asia/Tokyo";

async fn system(options: impl FnOnce(AppOptions) -> AppOptions) -> (App, Server) {
    let app = dev_app(|o| options(o.variable("admin_token", ADMIN_TOKEN))).await;
    let server = Server::bind(app.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .expect("the app listens on loopback");
    (app, server)
}

async fn admin(app: &App, method: &str, path: &str, body: Option<Value>) -> http::Response<Bytes> {
    let request = http::Request::builder()
        .method(method)
        .uri(format!("/api/admin/events/{DEMO}{path}"))
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .header("content-type", "application/json")
        .body(Bytes::from(body.map(|b| b.to_string()).unwrap_or_default()))
        .unwrap();
    app.send(request).await
}

async fn sessions(app: &App, query: &str) -> Vec<Value> {
    let answer = app
        .get(&format!("/api/events/{DEMO}/sessions{query}"))
        .await;
    body_json(&answer)["sessions"].as_array().unwrap().clone()
}

async fn assert_accessible(browser: &Browser, page: &str) {
    let violations = browser.accessibility_violations().await;
    assert!(
        violations.is_empty(),
        "{page} breaks WCAG 2.1 AA rules:\n{}",
        violations.join("\n")
    );
}

async fn assert_fits_the_screen(browser: &Browser) {
    assert_eq!(
        browser
            .eval("return document.documentElement.scrollWidth <= window.innerWidth")
            .await,
        true,
        "nothing wider than the phone's screen"
    );
}

async fn wait_count(browser: &Browser, css: &str, wanted: usize) {
    until(&format!("{wanted} × {css}"), || async {
        (browser.count(css).await == wanted).then_some(())
    })
    .await;
}

#[tokio::test]
async fn attendees_browse_filter_search_and_keep_a_personal_agenda() {
    let _turn = TURN.lock().await;
    let (app, server) = system(|o| o.variable("staleness_secs", "1")).await;
    let browser = Browser::start(&server.url(), VIEWER_ZONE).await;
    let all = sessions(&app, "").await;

    // `/` leads to the one published event's agenda, every session shown.
    browser.open("/").await;
    browser.wait_text("#freshness", "Agenda version 1").await;
    assert_eq!(browser.path().await, format!("/events/{DEMO}/"));
    wait_count(&browser, "article.session", all.len()).await;
    let keynote_time = format!("article[data-session='{KEYNOTE}'] time");
    assert_eq!(
        browser.text(&keynote_time).await.unwrap(),
        "09:00–09:45",
        "event time by default"
    );
    assert_eq!(
        browser
            .eval("return getComputedStyle(document.querySelector('.day-grid')).display")
            .await,
        "grid",
        "rooms side by side on a wide screen"
    );
    assert_eq!(
        browser
            .eval(&format!(
                "return getComputedStyle(document.querySelector(\"article[data-session='{KEYNOTE}']\")).gridColumnStart"
            ))
            .await,
        "2",
        "the keynote sits in its room's column (the first)"
    );
    let desktop = browser.screenshot("agenda-desktop").await;
    assert_accessible(&browser, "the agenda").await;

    // The viewer's own zone, then back.
    browser.click("input[name=tz][value=local]").await;
    browser.wait_text(&keynote_time, "17:00–17:45").await;
    browser.wait_text(".summary", VIEWER_ZONE).await;
    assert!(browser.path().await.contains("tz=local"));
    // Evening sessions in Lisbon fall on the next day in Tokyo.
    assert_eq!(browser.count("#day option[value='2027-06-11']").await, 1);
    browser.click("input[name=tz][value=event]").await;
    browser.wait_text(&keynote_time, "09:00–09:45").await;
    assert_eq!(browser.count("#day option[value='2027-06-11']").await, 0);

    // Filters, each matching what the API's own filters select.
    browser.choose("#track", "edge").await;
    wait_count(
        &browser,
        "article.session",
        sessions(&app, "?track=edge").await.len(),
    )
    .await;
    browser.choose("#day", "2027-06-09").await;
    wait_count(
        &browser,
        "article.session",
        sessions(&app, "?track=edge&day=2027-06-09").await.len(),
    )
    .await;
    browser.choose("#track", "").await;
    browser.choose("#day", "").await;
    browser.choose("#room", "lab-a").await;
    wait_count(
        &browser,
        "article.session",
        sessions(&app, "?room=lab-a").await.len(),
    )
    .await;
    browser.choose("#room", "").await;

    // Search reaches speaker names, and the URL keeps it across a reload.
    browser.type_into("#q", "halvorsen").await;
    let by_speaker = sessions(&app, "?q=halvorsen").await.len();
    assert!(by_speaker >= 1);
    wait_count(&browser, "article.session", by_speaker).await;
    browser.client.refresh().await.unwrap();
    wait_count(&browser, "article.session", by_speaker).await;
    assert!(browser.path().await.contains("q=halvorsen"));
    browser.type_into("#q", "").await;
    wait_count(&browser, "article.session", all.len()).await;

    // "Now / next" while the event runs, previewed at a moment on day two.
    browser
        .open(&format!("/events/{DEMO}/?at=2027-06-09T10:15:00%2B01:00"))
        .await;
    browser.wait_text(".now-next h2", "Now · 10:15").await;
    let running_then = all
        .iter()
        .filter(|s| {
            s["starts_at"].as_str().unwrap() <= "2027-06-09T10:15:00+01:00"
                && s["ends_at"].as_str().unwrap() > "2027-06-09T10:15:00+01:00"
        })
        .count();
    assert!(running_then > 0);
    assert!(browser.count(".now-next article.session").await > running_then);

    // A session page has its own URL, survives a reload and links its speaker.
    browser.open(&format!("/events/{DEMO}/")).await;
    browser
        .click(&format!("article[data-session='{KEYNOTE}'] h3 a"))
        .await;
    let keynote = all.iter().find(|s| s["id"] == KEYNOTE).unwrap();
    let title = keynote["title"].as_str().unwrap();
    browser.wait_text("h1", title).await;
    assert_eq!(
        browser.path().await,
        format!("/events/{DEMO}/sessions/{KEYNOTE}")
    );
    browser.client.refresh().await.unwrap();
    browser.wait_text("h1", title).await;
    browser.wait_text(".facts", "Tagus Auditorium").await;
    assert_accessible(&browser, "a session page").await;
    let calendar = browser
        .find("a[download][href$='session.ics']")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let one = app.get(&calendar).await;
    assert_eq!(one.status(), 200, "the add-to-calendar link works");
    assert!(String::from_utf8_lossy(one.body()).contains(&format!("UID:{KEYNOTE}@")));
    browser.click(".people a").await;
    let speaker = &keynote["speakers"][0];
    browser.wait_text("h1", "Ingrid Halvorsen").await;
    assert_eq!(
        browser.path().await,
        format!("/events/{DEMO}/speakers/{}", speaker.as_str().unwrap())
    );
    browser.client.refresh().await.unwrap();
    browser.wait_text("h1", "Ingrid Halvorsen").await;

    // Two stars make a personal agenda, downloadable as iCalendar.
    browser.open(&format!("/events/{DEMO}/")).await;
    let starred = [KEYNOTE, all[10]["id"].as_str().unwrap()];
    for id in starred {
        // By keyboard: Space on the focused toggle, as a keyboard user would.
        let star = format!("article[data-session='{id}'] button.star");
        browser.press(&star, " ").await;
        assert_eq!(
            browser
                .find(&star)
                .await
                .attr("aria-pressed")
                .await
                .unwrap()
                .as_deref(),
            Some("true")
        );
    }
    browser.wait_text("#star-count", "(2)").await;
    browser.click("#nav-mine").await;
    wait_count(&browser, "article.session", 2).await;
    browser.client.refresh().await.unwrap();
    wait_count(&browser, "article.session", 2).await;
    browser.click("#download-mine").await;
    let ics = browser.downloaded(&format!("{DEMO}-my-agenda.ics")).await;
    let calendar: icalendar::Calendar = String::from_utf8(ics).unwrap().parse().unwrap();
    let mut uids: Vec<String> = calendar
        .components
        .iter()
        .filter_map(|c| Some(c.as_event()?.get_uid()?.to_string()))
        .collect();
    uids.sort();
    let mut expected: Vec<String> = starred
        .iter()
        .map(|id| format!("{id}@{DEMO}.eventfront"))
        .collect();
    expected.sort();
    assert_eq!(uids, expected);
    // Unstarring on this page takes the session off it.
    browser
        .click(&format!("article[data-session='{KEYNOTE}'] button.star"))
        .await;
    wait_count(&browser, "article.session", 1).await;

    // A phone gets the same agenda as a list that fits the screen.
    browser.open(&format!("/events/{DEMO}/")).await;
    browser.resize(390, 844).await;
    wait_count(&browser, "article.session", all.len()).await;
    assert_eq!(
        browser
            .eval("return getComputedStyle(document.querySelector('.day-grid')).display")
            .await,
        "flex"
    );
    assert_fits_the_screen(&browser).await;
    let phone = browser.screenshot("agenda-phone").await;
    assert_accessible(&browser, "the agenda on a phone").await;
    assert!(desktop.exists() && phone.exists());

    let errors = browser.console_errors(true).await;
    assert!(errors.is_empty(), "console errors: {errors:?}");

    // With the origin unreachable and the copy past its window, the first
    // read (another attendee's) is served at once and starts a
    // revalidation; once that has failed, the page says so.
    app.links().set("origin.spin.internal", LinkFault::Cut);
    app.clock().advance(Duration::from_millis(1500));
    eventually("the copy marked stale", async || {
        let read = app.get("/api/events/wasm-edge-summit-2027/sessions").await;
        assert_eq!(read.status(), 200, "served from the copy");
        match read.headers().get("eventfront-stale") {
            Some(_) => Ok(()),
            None => Err(read.headers().clone()),
        }
    })
    .await;
    browser.client.refresh().await.unwrap();
    browser.wait_text("#freshness", "may be out of date").await;
    assert_eq!(
        browser
            .find("#freshness")
            .await
            .attr("class")
            .await
            .unwrap()
            .as_deref(),
        Some("freshness stale")
    );
    wait_count(&browser, "article.session", all.len()).await;
    browser.close().await;
}

/// Reads a registration's manage link from the outcome panel.
async fn manage_link(browser: &Browser) -> String {
    browser
        .find("#manage-link")
        .await
        .attr("href")
        .await
        .unwrap()
        .expect("the outcome links to the manage page")
}

async fn register(browser: &Browser, name: &str, email: &str) {
    browser.open(&format!("/events/{DEMO}/register")).await;
    browser.type_into("#reg-name", name).await;
    browser.type_into("#reg-email", email).await;
    browser.click("#register-button").await;
}

#[tokio::test]
async fn attendees_register_join_the_waitlist_retry_and_cancel() {
    let _turn = TURN.lock().await;
    let (app, server) = system(|o| o).await;
    // Two seats, published, so the page says so.
    let draft = body_json(&admin(&app, "GET", "/draft", None).await);
    let mut event = draft["event"].clone();
    event["registration"]["capacity"] = json!(2);
    assert_eq!(admin(&app, "PUT", "", Some(event)).await.status(), 200);
    let published = admin(&app, "POST", "/publish", Some(json!({"note": "two seats"}))).await;
    assert_eq!(published.status(), 201);
    let browser = Browser::start(&server.url(), VIEWER_ZONE).await;

    // The API's field messages appear beside their fields.
    register(&browser, "", "not-an-email").await;
    browser.wait_text("#capacity", "2 seats").await;
    let email_error = browser
        .wait_text(
            "#reg-email ~ .field-error, .field:has(#reg-email) .field-error",
            "",
        )
        .await;
    assert!(!email_error.is_empty());
    assert!(
        browser
            .text(".field:has(#reg-name) .field-error")
            .await
            .is_some()
    );
    assert_eq!(
        browser
            .find("#reg-email")
            .await
            .attr("aria-invalid")
            .await
            .unwrap()
            .as_deref(),
        Some("true")
    );

    assert_accessible(&browser, "the registration form with errors").await;

    register(&browser, "Ada Lovelace", "ada@example.com").await;
    browser.wait_text("#outcome h2", "confirmed").await;
    let ada = manage_link(&browser).await;
    register(&browser, "Grace Hopper", "grace@example.com").await;
    browser.wait_text("#outcome h2", "confirmed").await;
    // Ada again: told the truth, and her link is sent to her address.
    register(&browser, "Ada L.", "ADA@example.com").await;
    browser
        .wait_text("#form-error", "already registered for this event")
        .await;

    // The origin is unreachable: the page retries with the same key,
    // shows its progress, and completes once the origin is back.
    app.links().set("origin.spin.internal", LinkFault::Cut);
    register(&browser, "Linus Torvalds", "linus@example.com").await;
    browser
        .wait_text("#progress", "trying again (attempt 2")
        .await;
    assert!(
        browser
            .text("#progress-countdown")
            .await
            .unwrap()
            .contains("Next try in")
    );
    app.links().heal("origin.spin.internal");
    browser
        .wait_text("#outcome h2", "on the waitlist: position 1")
        .await;
    let linus = manage_link(&browser).await;
    let list = body_json(&admin(&app, "GET", "/registrations", None).await);
    let rows = list["registrations"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "the retries registered once: {rows:?}");
    assert_eq!(list["confirmed"], 2);
    assert_eq!(list["waitlisted"], 1);

    // Ada cancels from her manage link; Linus is promoted.
    browser.open(&ada).await;
    browser.wait_text("#registration-status", "confirmed").await;
    browser.click("#cancel-registration").await;
    browser.click("#confirm-cancel").await;
    browser.wait_text("#registration-status", "cancelled").await;
    browser.client.refresh().await.unwrap();
    browser.wait_text("#registration-status", "cancelled").await;
    browser.open(&linus).await;
    browser.wait_text("#registration-status", "confirmed").await;
    browser.screenshot("manage-registration").await;
    assert_accessible(&browser, "the manage page").await;

    // Ada, cancelled, erases her data: her link opens nothing any more.
    browser.open(&ada).await;
    browser.wait_text("#registration-status", "cancelled").await;
    browser.click("#erase-registration").await;
    browser.click("#confirm-erase").await;
    browser.wait_text("main", "Your data is erased").await;
    assert_accessible(&browser, "the erased page").await;
    browser.open(&ada).await;
    browser.wait_text("main", "not valid").await;

    // A manage link with a wrong token reveals nothing.
    let forged = linus.split('#').next().unwrap().to_string() + "#token=forged";
    browser.open(&forged).await;
    browser.wait_text("main", "not valid").await;

    let errors = browser.console_errors(false).await;
    assert!(errors.is_empty(), "console errors: {errors:?}");
    browser.close().await;
}

#[tokio::test]
async fn attendees_wait_their_turn_in_the_waiting_room_then_register() {
    let _turn = TURN.lock().await;
    let (app, server) = system(|o| o).await;
    // A room opening in a minute, its pre-queue open from now on.
    let opens = app.clock().since_epoch().as_millis() as i64 + 60_000;
    let opens_at = jiff::Timestamp::from_millisecond(opens)
        .unwrap()
        .to_string();
    let room = json!({ "opens_at": opens_at, "prequeue_minutes": 2, "per_minute": 60 });
    let set = admin(&app, "PUT", "/waiting-room", Some(room)).await;
    assert_eq!(set.status(), 200, "{:?}", set.body());
    system_tests::eventually("the room at the edge", async || {
        let live = body_json(&app.get(&format!("/api/events/{DEMO}/seats")).await);
        live.get("waiting_room").map(|_| ()).ok_or(live)
    })
    .await;

    // The register page waits in line instead of showing the form.
    let browser = Browser::start(&server.url(), VIEWER_ZONE).await;
    let page = format!("/events/{DEMO}/register");
    browser.open(&page).await;
    browser.wait_text("#waiting-status", "next in line").await;
    browser
        .wait_text("#waiting-expected", "expected at about")
        .await;
    assert_eq!(browser.count("#register-form").await, 0);
    assert_accessible(&browser, "the waiting room").await;
    let key = format!("return localStorage.getItem('eventfront:waiting-ticket:{DEMO}')");
    let ticket = browser.eval(&key).await;
    assert!(ticket.is_string(), "the ticket is kept in the browser");

    // Closed and opened again, on a phone: the same place.
    browser.resize(390, 844).await;
    browser.open(&page).await;
    browser
        .wait_text("#waiting-kept", "kept if you close this tab")
        .await;
    assert_eq!(browser.eval(&key).await, ticket);
    assert_fits_the_screen(&browser).await;

    // Time passes on the app's clock; when its turn comes the form opens,
    // with the time left to register.
    until("the form opens at its turn", || async {
        if browser.count("#register-form").await == 1 {
            return Some(());
        }
        app.clock().advance(Duration::from_secs(2));
        if browser.count("#waiting-check").await == 1 {
            browser.click("#waiting-check").await;
        }
        None
    })
    .await;
    browser.wait_text("#turn", "It is your turn").await;
    assert_accessible(&browser, "the form after the waiting room").await;
    browser.type_into("#reg-name", "Ada Lovelace").await;
    browser.type_into("#reg-email", "ada@example.com").await;
    browser.click("#register-button").await;
    browser.wait_text("#outcome h2", "confirmed").await;
    assert_eq!(
        browser.eval(&key).await,
        Value::Null,
        "a used ticket is forgotten"
    );
    browser.close().await;
}

#[tokio::test]
async fn organizers_open_watch_retune_pause_and_remove_the_waiting_room() {
    let _turn = TURN.lock().await;
    let (app, server) = system(|o| o).await;
    let browser = Browser::start(&server.url(), VIEWER_ZONE).await;
    sign_in_as(&browser, ADMIN_TOKEN).await;
    browser
        .wait_text("#waiting-room-figures", "No waiting room")
        .await;

    // Admission starts in five minutes or less, in the event's zone; the
    // pre-queue is open from now on.
    let opens = jiff::Timestamp::from_millisecond(
        app.clock().since_epoch().as_millis() as i64 + 5 * 60_000,
    )
    .unwrap()
    .in_tz("Europe/Lisbon")
    .unwrap()
    .strftime("%Y-%m-%dT%H:%M")
    .to_string();
    browser
        .eval(&format!(
            "document.getElementById('room-opens').value = '{opens}'"
        ))
        .await;
    browser.type_into("#room-rate", "60").await;
    browser.type_into("#room-prequeue", "10").await;
    browser
        .click("#waiting-room-form button[type=submit]")
        .await;
    browser
        .wait_text("#admin-status", "The waiting room is open")
        .await;
    browser
        .wait_text("#waiting-room-figures", "Pre-queue")
        .await;
    let room = body_json(&admin(&app, "GET", "/waiting-room", None).await);
    assert_eq!(room["per_minute"], 60);
    assert_eq!(room["prequeue_minutes"], 10);
    let typed = jiff::civil::DateTime::strptime("%Y-%m-%dT%H:%M", &opens)
        .unwrap()
        .in_tz("Europe/Lisbon")
        .unwrap()
        .timestamp();
    let saved = room["opens_at"].as_str().and_then(|at| at.parse().ok());
    assert_eq!(
        saved,
        Some(typed),
        "the wall time typed, in the event's zone"
    );

    // Three people take tickets at the edge; the page shows them waiting,
    // with when their band is expected in.
    let taken = std::cell::Cell::new(0);
    until("three tickets taken at the edge", || async {
        let answer = app
            .send(
                http::Request::post(format!("/api/events/{DEMO}/waiting-room"))
                    .body(Bytes::new())
                    .unwrap(),
            )
            .await;
        match answer.status().as_u16() {
            201 => taken.set(taken.get() + 1),
            // An edge instance whose copy is from before the room.
            404 => app.clock().advance(Duration::from_secs(1)),
            other => panic!("{other}: {:?}", answer.body()),
        }
        (taken.get() == 3).then_some(())
    })
    .await;
    until("the arrivals are counted", || async {
        let seen = browser.text("#waiting-room-figures").await?;
        if seen.contains("3 arrived") && seen.contains("3 waiting") {
            return Some(());
        }
        app.clock().advance(Duration::from_secs(1));
        browser
            .click("#waiting-room-controls button.secondary")
            .await;
        None
    })
    .await;
    let curve = || async {
        let rows = browser
            .eval(
                "return [...document.querySelectorAll('#waiting-room-curve tbody tr')]
                    .map((row) => [...row.cells].map((cell) => cell.textContent))",
            )
            .await;
        serde_json::from_value::<Vec<Vec<String>>>(rows).unwrap()
    };
    let bands = curve().await;
    let waiting: u64 = bands
        .iter()
        .map(|band| band[1].parse::<u64>().unwrap())
        .sum();
    assert_eq!(waiting, 3, "{bands:?}");
    // `10:04:31`, after the date when not today.
    let a_time = |shown: &str| {
        let time = shown.rsplit(' ').next().unwrap_or_default();
        let parts: Vec<&str> = time.split(':').collect();
        parts.len() == 3
            && parts
                .iter()
                .all(|p| p.len() == 2 && p.parse::<u8>().is_ok())
    };
    assert!(
        bands.iter().all(|band| a_time(&band[2])),
        "each band expected in at a time: {bands:?}"
    );
    assert_accessible(&browser, "the organizer's waiting room").await;
    browser.screenshot("organizer-waiting-room").await;

    // The rate changes while it runs, to a pace that follows the origin's
    // decisions up to it; a pause keeps every place.
    browser.type_into("#room-rate", "120").await;
    browser.choose("#room-pace", "decided").await;
    browser
        .click("#waiting-room-form button[type=submit]")
        .await;
    browser
        .wait_text(
            "#waiting-room-figures",
            "120 a minute as the origin decides (at most 120)",
        )
        .await;
    let retuned = body_json(&admin(&app, "GET", "/waiting-room", None).await);
    assert_eq!(retuned["pace"], "decided");
    browser.click("#waiting-room-pause").await;
    browser.wait_text("#waiting-room-figures", "Paused").await;
    browser
        .wait_text("#waiting-room-pause", "Resume admission")
        .await;
    assert!(
        curve().await.iter().all(|band| band[2] == "paused"),
        "no time is promised while paused"
    );
    let paused = body_json(&admin(&app, "GET", "/waiting-room", None).await);
    assert_eq!(
        (&paused["paused"], &paused["per_minute"]),
        (&json!(true), &json!(120))
    );
    browser.click("#waiting-room-pause").await;
    browser
        .wait_text("#waiting-room-figures", "Pre-queue")
        .await;

    // Removing asks once more.
    browser.click("#waiting-room-remove").await;
    browser.wait_text("#waiting-room-remove", "Really").await;
    browser.click("#waiting-room-remove").await;
    browser
        .wait_text("#waiting-room-figures", "No waiting room")
        .await;
    assert_eq!(
        admin(&app, "GET", "/waiting-room", None).await.status(),
        404
    );
    let errors = browser.console_errors(false).await;
    assert!(errors.is_empty(), "console errors: {errors:?}");
    browser.close().await;
}

#[tokio::test]
async fn attendees_pick_a_workshop_and_the_next_in_line_is_promoted() {
    let _turn = TURN.lock().await;
    let (app, server) = system(|o| o).await;
    // One of the demo's workshops, down to one seat.
    let draft = body_json(&admin(&app, "GET", "/draft", None).await);
    let mut workshop = system_tests::workshop(&draft["sessions"]);
    let id = workshop["id"].as_str().unwrap().to_string();
    workshop["capacity"] = json!(1);
    let put = admin(&app, "PUT", &format!("/sessions/{id}"), Some(workshop)).await;
    assert!(put.status().is_success(), "{:?}", put.body());
    let published = admin(&app, "POST", "/publish", Some(json!({"note": "one seat"}))).await;
    assert_eq!(published.status(), 201);
    let browser = Browser::start(&server.url(), VIEWER_ZONE).await;
    // The agenda says the workshop is picked in advance, and how many
    // places are left, live from the edge.
    browser.open(&format!("/events/{DEMO}/")).await;
    let places = format!("article[data-session='{id}'] .seats");
    let note = browser.wait_text(&places, "1 place left of 1").await;
    assert!(note.contains("pick it on your registration page"), "{note}");
    let pick = format!("#pick-{id}");
    let spot = format!("li[data-session='{id}'] .spot");

    register(&browser, "Ada Lovelace", "ada@example.com").await;
    browser.wait_text("#outcome h2", "confirmed").await;
    let ada = manage_link(&browser).await;
    register(&browser, "Grace Hopper", "grace@example.com").await;
    browser.wait_text("#outcome h2", "confirmed").await;
    let grace = manage_link(&browser).await;

    // Ada takes the seat; Grace, after her, is first in line.
    browser.open(&ada).await;
    browser
        .wait_text("#session-picks", "1 place left of 1")
        .await;
    browser.click(&pick).await;
    browser.wait_text(&spot, "You have a seat").await;
    assert_accessible(&browser, "the manage page with workshops").await;
    // "My agenda" shows the seat of the registrations this browser keeps.
    browser.open(&format!("/events/{DEMO}/my-agenda")).await;
    let mine = browser.wait_text("#my-seats", "You have a seat").await;
    assert!(mine.contains("Ada Lovelace"), "{mine}");
    assert_accessible(&browser, "my agenda with a workshop seat").await;
    browser.open(&grace).await;
    browser.click(&pick).await;
    browser.wait_text(&spot, "number 1 in line").await;
    browser.screenshot("workshop-line").await;
    // The origin pushed the new counts to the edge: the agenda shows them.
    browser.open(&format!("/events/{DEMO}/")).await;
    browser.wait_text(&places, "Full, 1 waiting").await;

    // Ada releases it: the seat is Grace's, and she is told through the
    // development outbox with a link that shows it.
    browser.open(&ada).await;
    browser.wait_text(&spot, "You have a seat").await;
    browser.click(&pick).await;
    until("Ada's pick released", || async {
        (browser.count(&spot).await == 0).then_some(())
    })
    .await;
    let outbox = body_json(&admin(&app, "GET", "/outbox", None).await);
    let told = outbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["to"] == "grace@example.com" && m["kind"] == "session_seat")
        .expect("Grace's message about her seat");
    let link = told["links"]["manage"].as_str().unwrap();
    let path = link.split_once("/registrations/").unwrap().1;
    browser.open(&format!("/registrations/{path}")).await;
    browser.wait_text(&spot, "You have a seat").await;
    browser.open(&format!("/events/{DEMO}/my-agenda")).await;
    let mine = browser.wait_text("#my-seats", "You have a seat").await;
    assert!(
        mine.contains("Grace Hopper") && !mine.contains("Ada"),
        "{mine}"
    );

    let errors = browser.console_errors(false).await;
    assert!(errors.is_empty(), "console errors: {errors:?}");
    browser.close().await;
}

#[tokio::test]
async fn organizers_edit_publish_roll_back_and_attendees_see_it() {
    let _turn = TURN.lock().await;
    let (app, server) = system(|o| o).await;
    let browser = Browser::start(&server.url(), VIEWER_ZONE).await;

    // A wrong token is refused on the form.
    browser.open("/admin/").await;
    browser.type_into("#token", "wrong").await;
    browser.click("#sign-in button[type=submit]").await;
    browser.wait_text("#sign-in-error", "refused").await;
    assert_eq!(
        browser
            .find("#token")
            .await
            .attr("aria-invalid")
            .await
            .unwrap()
            .as_deref(),
        Some("true")
    );
    browser.type_into("#token", ADMIN_TOKEN).await;
    browser.click("#sign-in button[type=submit]").await;
    browser
        .wait_text("#admin-status", "Published version: 1")
        .await;
    browser
        .wait_text("h1", "WebAssembly Edge Summit 2027")
        .await;

    // Edit the keynote's title: an empty one is refused beside the field.
    browser
        .click(&format!("button[data-edit='{KEYNOTE}']"))
        .await;
    browser.type_into("#session-title", " ").await;
    browser.click("#session-form button[type=submit]").await;
    browser
        .wait_text(".field:has(#session-title) .field-error", "")
        .await;
    // A new session may not take an existing session's id.
    browser.click("#new-session").await;
    browser.type_into("#session-id", KEYNOTE).await;
    browser.type_into("#session-title", "Impostor").await;
    browser.click("#session-form button[type=submit]").await;
    browser
        .wait_text(".field:has(#session-id) .field-error", "already used")
        .await;
    browser
        .click(&format!("button[data-edit='{KEYNOTE}']"))
        .await;
    const RETITLED: &str = "Keynote: Wasm Everywhere, Five Years On";
    browser.type_into("#session-title", RETITLED).await;
    browser.click("#session-form button[type=submit]").await;
    browser
        .wait_text("#admin-status", "saved to the draft")
        .await;

    // Fewer seats in the event form: they are part of the draft and count
    // for registrations once published.
    browser.type_into("#registration-capacity", "300").await;
    browser.click("#event-form button[type=submit]").await;
    browser.wait_text("#admin-status", "Event saved").await;

    // Publish, and see the version live on the edge.
    browser
        .type_into("#publish-note", "Retitled the keynote")
        .await;
    browser.click("#publish-form button[type=submit]").await;
    browser
        .wait_text("#admin-status", "Version 2 is live on the local edge")
        .await;
    browser
        .wait_text("#changelog", "Retitled the keynote")
        .await;
    browser.eval("window.scrollTo(0, 0)").await;
    browser.screenshot("organizer").await;
    assert_accessible(&browser, "the organizer page").await;

    // Registrations and their CSV, and the audit log.
    admin_registration(&app).await;
    browser
        .click("#registrations-section button.secondary")
        .await;
    browser
        .wait_text("#registration-summary", "300 seats · 1 confirmed")
        .await;
    browser.click("#export-csv").await;
    let csv = browser
        .downloaded(&format!("{DEMO}-registrations.csv"))
        .await;
    let csv = String::from_utf8(csv).unwrap();
    assert!(csv.starts_with("id,name,email,status"), "{csv}");
    assert!(csv.contains("Marie Curie"));
    browser.wait_text("#audit", "event.published").await;
    browser.wait_text("#audit", "session.saved").await;
    // The outbox holds Marie's message; its manage link opens her seat.
    browser.click("#outbox-section button.secondary").await;
    browser.wait_text("#outbox", "marie@example.com").await;
    browser.click("#outbox summary").await;
    browser
        .wait_text("#outbox pre.message", "Hello Marie Curie")
        .await;
    let link = browser
        .find("#outbox a")
        .await
        .attr("href")
        .await
        .unwrap()
        .expect("the message links to the manage page");
    let path = link.split_once("/registrations/").unwrap().1;
    browser.click("#outbox button").await;
    browser
        .wait_text("#admin-status", "will be sent to marie@example.com again")
        .await;
    let outbox = body_json(&admin(&app, "GET", "/outbox", None).await);
    assert_eq!(outbox["total"], 2, "the message and its copy");
    assert_eq!(
        outbox["messages"][0]["text"], outbox["messages"][1]["text"],
        "the same words, its link still Marie's"
    );

    browser.wait_text("#audit", "event.updated").await;
    browser.open(&format!("/registrations/{path}")).await;
    browser.wait_text("#registration-status", "confirmed").await;
    browser.open("/admin/").await;

    // An import is all or nothing: a session in a room the draft lacks is
    // refused with the field named, and nothing changes.
    let before = body_json(&admin(&app, "GET", "/draft", None).await);
    let mut session = before["sessions"][0].clone();
    session["room"] = json!("no-such-room");
    session["speakers"] = json!([]);
    let draft = json!({ "event": before["event"], "sessions": [session], "speakers": [] });
    browser.type_into("#import-json", &draft.to_string()).await;
    browser.click("#import-form button[type=submit]").await;
    browser
        .wait_text("#import-form-error", "sessions[0].room")
        .await;
    assert_eq!(body_json(&admin(&app, "GET", "/draft", None).await), before);

    // The attendee page shows the new title.
    browser.open(&format!("/events/{DEMO}/")).await;
    browser
        .wait_text(&format!("article[data-session='{KEYNOTE}'] h3"), RETITLED)
        .await;

    // Roll back to version 1: live as version 3 with the old title.
    browser.open("/admin/").await;
    browser.find("#rollback-version option[value='1']").await;
    browser.choose("#rollback-version", "1").await;
    browser
        .type_into("#rollback-note", "Back to the original")
        .await;
    browser.click("#rollback-form button[type=submit]").await;
    browser
        .wait_text("#admin-status", "Version 3 is live")
        .await;
    browser.open(&format!("/events/{DEMO}/")).await;
    let original = sessions(&app, "").await;
    let original = original.iter().find(|s| s["id"] == KEYNOTE).unwrap()["title"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(original, RETITLED);
    browser
        .wait_text(&format!("article[data-session='{KEYNOTE}'] h3"), &original)
        .await;

    let errors = browser.console_errors(false).await;
    assert!(errors.is_empty(), "console errors: {errors:?}");
    browser.close().await;
}

#[tokio::test]
async fn attendees_confirm_their_address_through_the_development_outbox() {
    let _turn = TURN.lock().await;
    let (app, server) = system(|o| o).await;
    // The demo, confirming by email, with one seat.
    let draft = body_json(&admin(&app, "GET", "/draft", None).await);
    let mut event = draft["event"].clone();
    event["registration"]["capacity"] = json!(1);
    event["registration"]["confirm_email"] = json!(true);
    assert_eq!(admin(&app, "PUT", "", Some(event)).await.status(), 200);
    let published = admin(&app, "POST", "/publish", Some(json!({"note": "confirm"}))).await;
    assert_eq!(published.status(), 201);
    let browser = Browser::start(&server.url(), VIEWER_ZONE).await;

    register(&browser, "Ada Lovelace", "ada@example.com").await;
    browser.wait_text("#outcome h2", "Check your inbox").await;
    let told = browser.text("#outcome").await.unwrap();
    assert!(
        told.contains("ada@example.com") && told.contains("Lisbon time"),
        "{told}"
    );
    browser.screenshot("check-your-inbox").await;
    assert_accessible(&browser, "the check-your-inbox answer").await;
    // The same address again: the same answer; the form reveals nothing.
    register(&browser, "Ada L.", "ADA@example.com").await;
    browser.wait_text("#outcome h2", "Check your inbox").await;

    // The organizer's outbox holds the email; its link confirms, and the
    // page becomes the registration's manage page.
    browser.open("/admin/").await;
    browser.type_into("#token", ADMIN_TOKEN).await;
    browser.click("#sign-in button[type=submit]").await;
    browser
        .wait_text("#admin-status", "Published version")
        .await;
    browser.click("#outbox-section button.secondary").await;
    browser.wait_text("#outbox", "ada@example.com").await;
    let link = browser
        .find("#outbox a.confirm-link")
        .await
        .attr("href")
        .await
        .unwrap()
        .expect("the message links to its confirmation");
    let path = link.split_once("/registrations/").unwrap().1.to_string();
    assert!(path.contains("/confirm#token="), "{path}");
    browser.open(&format!("/registrations/{path}")).await;
    browser
        .wait_text("#confirmed-notice", "your registration is confirmed")
        .await;
    browser.wait_text("#registration-status", "confirmed").await;
    let address = browser.eval("return location.pathname").await;
    assert!(
        !address.as_str().unwrap().ends_with("/confirm"),
        "{address}"
    );
    assert_accessible(&browser, "the confirmed registration").await;
    browser.client.refresh().await.unwrap();
    browser.wait_text("#registration-status", "confirmed").await;
    // The link again: harmless.
    browser.open(&format!("/registrations/{path}")).await;
    browser.wait_text("#registration-status", "confirmed").await;

    // Grace comes second: held in line, then waitlisted once she confirms.
    register(&browser, "Grace Hopper", "grace@example.com").await;
    browser.wait_text("#outcome h2", "Check your inbox").await;
    let outbox = body_json(&admin(&app, "GET", "/outbox", None).await);
    let grace = outbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["to"] == "grace@example.com" && m["kind"] == "pending")
        .expect("Grace's confirmation email");
    let grace_path = grace["links"]["confirm"]
        .as_str()
        .unwrap()
        .split_once("/registrations/")
        .unwrap()
        .1
        .to_string();
    browser.open(&format!("/registrations/{grace_path}")).await;
    browser
        .wait_text("#registration-status", "waitlisted, position 1")
        .await;

    // A forged confirmation link confirms nothing.
    let forged = grace_path.split('#').next().unwrap().to_string() + "#token=forged";
    browser.open(&format!("/registrations/{forged}")).await;
    browser.wait_text("#confirm-failed", "not valid").await;
    browser.close().await;
}

/// One registration made through the public API, for the organizer to see.
async fn admin_registration(app: &App) {
    let request = registration(
        DEMO,
        "browser-test-marie",
        "Marie Curie",
        "marie@example.com",
    );
    assert_eq!(app.send(request).await.status(), 201);
}

/// The embedded agenda's shadow root, in page script.
const SHADOW: &str = "document.querySelector('eventfront-agenda')?.shadowRoot";

/// How many sessions the embedded agenda lists.
async fn embedded_rows(browser: &Browser) -> usize {
    let script = format!("return {SHADOW}?.querySelectorAll('li').length ?? 0");
    browser.eval(&script).await.as_u64().unwrap_or(0) as usize
}

/// A page on another origin (another port) that embeds the agenda with
/// the one documented tag and themes it; stops when dropped.
struct ForeignPage {
    addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ForeignPage {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn foreign_page(edge: &str) -> ForeignPage {
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Our conference</title>\
         <style>eventfront-agenda {{ --ef-accent: rgb(170, 0, 60); }}</style></head>\
         <body><main><h1>Our conference</h1>\
         <script type=\"module\" src=\"{edge}/embed/agenda.js\" data-event=\"{DEMO}\"></script>\
         </main></body></html>"
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let page = page.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_| {
                    let mut response =
                        hyper::Response::new(http_body_util::Full::new(Bytes::from(page.clone())));
                    response.headers_mut().insert(
                        "content-type",
                        http::HeaderValue::from_static("text/html; charset=utf-8"),
                    );
                    async move { Ok::<_, std::convert::Infallible>(response) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    ForeignPage { addr, task }
}

#[tokio::test]
async fn the_agenda_embeds_in_a_foreign_page_with_filters_theme_and_reads_only() {
    let _turn = TURN.lock().await;
    let (app, server) = system(|o| o).await;
    let all = sessions(&app, "").await;
    let host = foreign_page(&server.url()).await;
    let browser = Browser::start(&format!("http://{}", host.addr), VIEWER_ZONE).await;
    browser.open("/").await;
    let shadow = SHADOW;
    until("the embedded agenda", || async {
        (embedded_rows(&browser).await == all.len()).then_some(())
    })
    .await;

    // A day, then a track: the list follows each filter.
    let first_day = &all[0]["starts_at"].as_str().unwrap()[..10];
    let on_day = all
        .iter()
        .filter(|s| s["starts_at"].as_str().unwrap().starts_with(first_day))
        .count();
    let choose = |name: &str, value: &str| {
        format!(
            "const s = {shadow}.querySelector('select[name={name}]'); s.value = '{value}'; \
             s.dispatchEvent(new Event('change'));"
        )
    };
    browser.eval(&choose("day", first_day)).await;
    assert_eq!(embedded_rows(&browser).await, on_day);
    let track = all[0]["track"].as_str().unwrap();
    browser.eval(&choose("track", track)).await;
    let on_day_and_track = all
        .iter()
        .filter(|s| s["starts_at"].as_str().unwrap().starts_with(first_day) && s["track"] == track)
        .count();
    assert_eq!(embedded_rows(&browser).await, on_day_and_track);

    // Links lead back to the edge's session pages, in the host's colours.
    let link = browser
        .eval(&format!("return {shadow}.querySelector('li a').href"))
        .await;
    assert!(
        link.as_str()
            .unwrap()
            .starts_with(&format!("{}/events/{DEMO}/sessions/", server.url())),
        "{link}"
    );
    assert_eq!(
        browser
            .eval(&format!(
                "return getComputedStyle({shadow}.querySelector('li a')).color"
            ))
            .await,
        "rgb(170, 0, 60)"
    );
    browser.screenshot("embedded-agenda").await;
    assert_accessible(&browser, "the embedded agenda").await;
    let errors = browser.console_errors(false).await;
    assert!(errors.is_empty(), "{errors:?}");

    // The foreign page may read the agenda but not write: a registration
    // from it is refused by the browser, for want of CORS on writes.
    let write = browser
        .client
        .execute_async(
            &format!(
                "const done = arguments[arguments.length - 1];
                 fetch('{}/api/events/{DEMO}/registrations', {{ method: 'POST',
                   headers: {{ 'content-type': 'application/json', 'idempotency-key': 'x' }},
                   body: JSON.stringify({{ name: 'Mallory', email: 'm@example.com' }}) }})
                   .then(() => done('read'), () => done('blocked'));",
                server.url()
            ),
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(write, "blocked");

    // Small: under 15 KB gzipped, and revalidated rather than refetched.
    let script = app
        .send(
            http::Request::get("/embed/agenda.js")
                .header("accept-encoding", "gzip")
                .body(Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(script.headers()["access-control-allow-origin"], "*");
    assert!(
        script.body().len() < 15 * 1024,
        "{} bytes",
        script.body().len()
    );
    assert_eq!(script.headers()["cache-control"], "no-cache");
    browser.close().await;
}

/// Offline at the venue: the page installs its manifest and service worker,
/// which keep the shell and the agenda on the device. With the server gone
/// (every connection closed), pages still open, the personal agenda
/// included, and say that they show the saved copy.
#[tokio::test]
async fn the_agenda_and_a_personal_agenda_open_with_the_network_gone() {
    let _turn = TURN.lock().await;
    let (app, server) = system(|o| o).await;
    let all = sessions(&app, "").await;
    let browser = Browser::start(&server.url(), VIEWER_ZONE).await;
    browser.open(&format!("/events/{DEMO}/")).await;
    browser.wait_text("#freshness", "Agenda version 1").await;

    let manifest = browser
        .eval("return fetch(document.querySelector('link[rel=manifest]').href).then(r => r.json())")
        .await;
    assert_eq!(manifest["start_url"], "/");
    assert_eq!(manifest["display"], "standalone");
    let sizes: Vec<&str> = manifest["icons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["sizes"].as_str().unwrap())
        .collect();
    assert_eq!(sizes, ["192x192", "512x512"]);
    for icon in manifest["icons"].as_array().unwrap() {
        let served = app.get(icon["src"].as_str().unwrap()).await;
        assert_eq!(served.status(), 200);
        assert!(served.body().starts_with(b"\x89PNG"));
    }

    until("the service worker controls the page", || async {
        (browser
            .eval("return Boolean(navigator.serviceWorker.controller)")
            .await
            == json!(true))
        .then_some(())
    })
    .await;
    let star = format!("article[data-session='{KEYNOTE}'] button.star");
    browser.press(&star, " ").await;
    browser.wait_text("#star-count", "(1)").await;
    // Read once through the worker, which saves what it answers.
    browser.open(&format!("/events/{DEMO}/my-agenda")).await;
    wait_count(&browser, "article.session", 1).await;
    until("the agenda saved on this device", || async {
        let saved = browser
            .eval("return caches.open('eventfront-data-v1').then(c => c.keys()).then(k => k.map(r => new URL(r.url).pathname))")
            .await;
        let saved: Vec<&str> = saved.as_array()?.iter().filter_map(Value::as_str).collect();
        let wanted = ["", "/sessions", "/speakers"].map(|p| format!("/api/events/{DEMO}{p}"));
        wanted.iter().all(|w| saved.contains(&w.as_str())).then_some(())
    })
    .await;

    drop(server);
    browser.open(&format!("/events/{DEMO}/my-agenda")).await;
    browser
        .wait_text("#freshness", "You seem to be offline")
        .await;
    wait_count(&browser, "article.session", 1).await;
    assert_eq!(
        browser
            .count(&format!("article[data-session='{KEYNOTE}']"))
            .await,
        1
    );
    browser.click("#nav-agenda").await;
    wait_count(&browser, "article.session", all.len()).await;
    browser.screenshot("offline-agenda").await;
    browser.close().await;
}

/// What a page load fetched over the network (not from the browser's
/// cache): each request's path (with its query) and the bytes of its body on
/// the wire (compressed where it was).
async fn fetched(browser: &Browser) -> Vec<(String, u64)> {
    let entries = browser
        .eval(
            "return [...performance.getEntriesByType('navigation'), \
             ...performance.getEntriesByType('resource')] \
             .filter(e => e.transferSize > 0) \
             .map(e => { const u = new URL(e.name); return [u.pathname + u.search, e.encodedBodySize]; })",
        )
        .await;
    serde_json::from_value(entries).unwrap()
}

fn print_transfer(label: &str, fetched: &[(String, u64)]) -> u64 {
    let total: u64 = fetched.iter().map(|(_, bytes)| bytes).sum();
    println!("{label}: {} requests, {total} bytes gzipped", fetched.len());
    for (path, bytes) in fetched {
        println!("  {bytes:>7}  {path}");
    }
    total
}

/// A generated event of `days` × `rooms` × `slots` half-hour sessions, one
/// speaker each among `speakers`, with text that varies as real abstracts do
/// (so that it compresses as they do, not as a repeated phrase would).
fn large_draft(days: usize, rooms: usize, slots: usize, speakers: usize) -> Value {
    const WORDS: [&str; 48] = [
        "edge",
        "component",
        "latency",
        "cache",
        "runtime",
        "sandbox",
        "stream",
        "schema",
        "deploy",
        "region",
        "kernel",
        "memory",
        "thread",
        "queue",
        "budget",
        "trace",
        "metric",
        "tenant",
        "policy",
        "secret",
        "replica",
        "shard",
        "index",
        "vector",
        "compiler",
        "linker",
        "module",
        "binding",
        "socket",
        "proxy",
        "router",
        "gateway",
        "failover",
        "rollout",
        "canary",
        "backoff",
        "timeout",
        "quota",
        "ledger",
        "audit",
        "snapshot",
        "journal",
        "consensus",
        "lease",
        "epoch",
        "fuel",
        "arena",
        "pool",
    ];
    // A small deterministic generator: the same event on every run.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut word = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        WORDS[(seed % WORDS.len() as u64) as usize]
    };
    let mut text = |words: usize| (0..words).map(|_| word()).collect::<Vec<_>>().join(" ");
    let sessions: Vec<Value> = (0..days * rooms * slots)
        .map(|i| {
            let (day, room, slot) = (i / (rooms * slots), i / slots % rooms, i % slots);
            let start = jiff::civil::date(2027, 9, 6 + day as i8).at(8, 0, 0, 0)
                + jiff::Span::new().minutes(30 * slot as i64);
            let at =
                |t: jiff::civil::DateTime| format!("{}+02:00", t.strftime("%Y-%m-%dT%H:%M:%S"));
            json!({
                "id": format!("s-{day}-{room}-{slot}"),
                "title": format!("{}, part {i}", text(5)),
                "abstract": text(40),
                "starts_at": at(start),
                "ends_at": at(start + jiff::Span::new().minutes(25)),
                "room": format!("room-{room}"),
                "speakers": [format!("speaker-{}", i % speakers)],
            })
        })
        .collect();
    json!({
        "event": {
            "name": "Mega Conf 2027",
            "timezone": "Europe/Berlin",
            "starts_at": "2027-09-06T08:00:00+02:00",
            "ends_at": format!("2027-09-{:02}T20:00:00+02:00", 5 + days),
            "rooms": (0..rooms).map(|r| json!({ "id": format!("room-{r}"), "name": format!("Room {r}") })).collect::<Vec<_>>(),
            "registration": { "open": true, "capacity": 5000, "confirm_email": false }
        },
        "speakers": (0..speakers).map(|s| json!({
            "id": format!("speaker-{s}"),
            "name": format!("Speaker Number {s}"),
            "bio": text(25),
        })).collect::<Vec<_>>(),
        "sessions": sessions,
    })
}

#[tokio::test]
async fn a_first_visit_is_small_and_a_large_agenda_comes_one_day_at_a_time() {
    let _turn = TURN.lock().await;
    let (app, server) = system(|o| o).await;
    let demo_sessions = sessions(&app, "").await.len();

    // The demo: code and the agenda, nothing a later view needs. It was
    // 31 KB before its workshops showed their places left, live (the
    // counts document, 0.8 KB for six workshops, and the code that shows
    // them).
    let browser = Browser::start(&server.url(), VIEWER_ZONE).await;
    browser.open("/").await;
    wait_count(&browser, "article.session", demo_sessions).await;
    let demo = fetched(&browser).await;
    let total = print_transfer("first visit, demo", &demo);
    assert!(
        total <= 33 * 1024,
        "the demo's first visit stays within 33 KB gzipped: {total}"
    );
    for later in ["/speakers", "/app/registration.js", "/app/details.js"] {
        assert!(
            !demo.iter().any(|(path, _)| path.ends_with(later)),
            "{later} waits until it is needed"
        );
    }
    browser.close().await;

    // A generated event of 2,000 sessions over four days.
    let slug = "mega-conf-2027";
    let draft = large_draft(4, 25, 20, 1_000);
    let put = app
        .send(admin_request(
            "PUT",
            &format!("/api/admin/events/{slug}/draft"),
            Some(draft),
        ))
        .await;
    assert_eq!(put.status(), 200, "{}", String::from_utf8_lossy(put.body()));
    let published = app
        .send(admin_request(
            "POST",
            &format!("/api/admin/events/{slug}/publish"),
            Some(json!({ "note": "Generated" })),
        ))
        .await;
    assert_eq!(published.status(), 201);
    let whole = app
        .send(
            http::Request::get(format!("/api/events/{slug}/sessions"))
                .header("accept-encoding", "gzip")
                .body(Bytes::new())
                .unwrap(),
        )
        .await;
    println!(
        "the whole agenda of 2,000 sessions would be {} bytes gzipped",
        whole.body().len()
    );

    let browser = Browser::start(&server.url(), VIEWER_ZONE).await;
    browser.open(&format!("/events/{slug}/")).await;
    wait_count(&browser, "article.session", 500).await;
    let large = fetched(&browser).await;
    print_transfer("first visit, 2,000 sessions", &large);
    let agenda: Vec<&str> = large
        .iter()
        .map(|(path, _)| path.as_str())
        .filter(|path| path.contains("/sessions") || path.contains("/speakers"))
        .collect();
    assert_eq!(
        agenda,
        [format!("/api/events/{slug}/sessions?day=2027-09-06")],
        "one day, and nothing else of the agenda"
    );
    let day: u64 = large
        .iter()
        .filter(|(path, _)| path.contains("/sessions?day="))
        .map(|(_, bytes)| bytes)
        .sum();
    assert!(
        day * 3 < whole.body().len() as u64,
        "one day is a fraction of the whole agenda: {day} of {}",
        whole.body().len()
    );

    // The next day comes when chosen; a session of the first stays starred.
    let first = "s-0-0-0";
    browser
        .press(&format!("article[data-session='{first}'] button.star"), " ")
        .await;
    browser.wait_text("#star-count", "(1)").await;
    browser.choose("#day", "2027-09-07").await;
    wait_count(&browser, "article[data-session='s-1-0-0']", 1).await;
    wait_count(&browser, "article.session", 500).await;
    browser.click("#nav-mine").await;
    wait_count(&browser, "article.session", 1).await;
    assert_eq!(
        browser
            .count(&format!("article[data-session='{first}']"))
            .await,
        1
    );
    // A session of a day never opened, and the speakers, on their pages.
    browser
        .open(&format!("/events/{slug}/sessions/s-3-24-19"))
        .await;
    browser.wait_text("h1", ", part 1999").await;
    browser.wait_text(".people", "Speaker Number 999").await;
    browser
        .open(&format!("/events/{slug}/speakers/speaker-999"))
        .await;
    browser.wait_text("h1", "Speaker Number 999").await;
    wait_count(&browser, "article.session", 2).await;
    browser.close().await;
}

/// Signs the page in with `token` for the demo event, from signed out.
async fn sign_in_as(browser: &Browser, token: &str) {
    browser.open("/admin/").await;
    browser.type_into("#token", token).await;
    browser.type_into("#slug", DEMO).await;
    browser.click("#sign-in button[type=submit]").await;
    browser.wait_text("#admin-status", "Signed in as").await;
}

/// Invites someone from the Accounts section, then makes them a token
/// there; returns the token it shows once.
async fn invite(browser: &Browser, email: &str, name: &str, role: &str) -> String {
    browser.type_into("#invite-email", email).await;
    browser.type_into("#invite-name", name).await;
    browser.choose("#invite-role", role).await;
    browser.type_into("#invite-event", DEMO).await;
    browser.click("#invite-form button[type=submit]").await;
    browser
        .wait_text("#admin-status", &format!("{email} now has an account"))
        .await;
    // The box shows one token at a time: emptied, it shows only the new one.
    browser
        .eval("document.getElementById('minted').replaceChildren()")
        .await;
    browser
        .click(&format!("button[aria-label='New token for {email}']"))
        .await;
    browser.wait_text(".minted-token", "eft_").await
}

#[tokio::test]
async fn owners_invite_people_whose_roles_decide_what_they_see_and_revoke_them() {
    let _turn = TURN.lock().await;
    let (app, server) = system(|o| o).await;
    let browser = Browser::start(&server.url(), VIEWER_ZONE).await;

    // The bootstrap token owns everything: the Accounts section is there.
    sign_in_as(&browser, ADMIN_TOKEN).await;
    browser.wait_text("#accounts-section h2", "Accounts").await;
    let editor = invite(&browser, "ed@example.org", "Ed Itor", "editor").await;
    let desk = invite(&browser, "desk@example.org", "Desk", "registrations").await;
    let viewer = invite(&browser, "view@example.org", "Viewer", "viewer").await;
    browser
        .wait_text("tr[data-account='desk@example.org']", "registrations of")
        .await;
    assert_accessible(&browser, "the Accounts section").await;
    browser.screenshot("organizer-accounts").await;

    // An editor edits the draft but cannot publish, nor see people.
    browser.click("#sign-out").await;
    sign_in_as(&browser, &editor).await;
    browser
        .wait_text("#admin-status", "Signed in as ed@example.org")
        .await;
    browser.wait_text("#sessions-section h2", "Sessions").await;
    for absent in [
        "#publish-section",
        "#registrations-section",
        "#outbox-section",
        "#accounts-section",
    ] {
        assert_eq!(
            browser.count(absent).await,
            0,
            "{absent} is shown to an editor"
        );
    }
    assert_eq!(
        browser
            .count("#sections li:not([hidden]) a[href='#publish-section']")
            .await,
        0,
        "the menu offers no publishing"
    );
    let publish = app
        .send(system_tests::organizer_request(
            &editor,
            "POST",
            &format!("/api/admin/events/{DEMO}/publish"),
            Some(json!({})),
        ))
        .await;
    assert_eq!(publish.status(), 403);

    // The registration desk sees people, not the draft.
    browser.click("#sign-out").await;
    sign_in_as(&browser, &desk).await;
    browser
        .wait_text("#admin-status", "do not include the draft")
        .await;
    browser
        .wait_text("#registrations-section h2", "Registrations")
        .await;
    for absent in [
        "#event-section",
        "#sessions-section",
        "#speakers-section",
        "#import-section",
    ] {
        assert_eq!(
            browser.count(absent).await,
            0,
            "{absent} is shown to the desk"
        );
    }

    // A viewer reads the draft, with nothing to edit it by.
    browser.click("#sign-out").await;
    sign_in_as(&browser, &viewer).await;
    browser
        .wait_text("#admin-status", "Reading the draft")
        .await;
    browser.wait_text("#sessions-section h2", "Sessions").await;
    for absent in [
        "#event-section",
        "#import-section",
        "#new-session",
        "#new-speaker",
        "button[data-edit]",
    ] {
        assert_eq!(
            browser.count(absent).await,
            0,
            "{absent} is shown to a viewer"
        );
    }

    // The desk signs in elsewhere meanwhile; the owner ends that sign-in
    // from the page, and it stops at once.
    let elsewhere = app
        .send(system_tests::organizer_request(
            &desk,
            "POST",
            "/api/admin/sign-in",
            Some(json!({})),
        ))
        .await;
    assert_eq!(elsewhere.status(), 201);
    let cookie = elsewhere.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    let desk_sign_in = || {
        http::Request::get("/api/admin/me")
            .header("cookie", cookie.as_str())
            .body(Bytes::new())
            .unwrap()
    };
    assert_eq!(app.send(desk_sign_in()).await.status(), 200);
    browser.click("#sign-out").await;
    sign_in_as(&browser, ADMIN_TOKEN).await;
    browser
        .click("tr[data-account='desk@example.org'] .sign-ins button")
        .await;
    browser
        .wait_text("#admin-status", "The sign-in of desk@example.org is ended")
        .await;
    assert_eq!(app.send(desk_sign_in()).await.status(), 401);

    // The owner revokes the desk's token from the page; it stops at once.
    browser
        .click("tr[data-account='desk@example.org'] .tokens button")
        .await;
    browser
        .wait_text("#admin-status", "of desk@example.org no longer works")
        .await;
    let registrations = app
        .send(system_tests::organizer_request(
            &desk,
            "GET",
            &format!("/api/admin/events/{DEMO}/registrations"),
            None,
        ))
        .await;
    assert_eq!(registrations.status(), 401);

    // An editor whose account is revoked meanwhile is signed out at their
    // next save: the page's sign-in ends with the account.
    browser.click("#sign-out").await;
    sign_in_as(&browser, &editor).await;
    let accounts = body_json(
        &app.send(admin_request("GET", "/api/admin/accounts", None))
            .await,
    );
    let editor_id = accounts["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["email"] == "ed@example.org")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let revoked = app
        .send(admin_request(
            "DELETE",
            &format!("/api/admin/accounts/{editor_id}"),
            None,
        ))
        .await;
    assert_eq!(revoked.status(), 204);
    browser
        .click(&format!("button[data-edit='{KEYNOTE}']"))
        .await;
    browser.click("#session-form button[type=submit]").await;
    browser
        .wait_text(
            "#admin-status",
            "Your sign-in ended or was refused; sign in again.",
        )
        .await;
    browser.find("#token").await;
    browser.close().await;
}

#[tokio::test]
async fn organizers_sign_in_with_a_link_mailed_through_the_development_outbox() {
    let _turn = TURN.lock().await;
    let (app, server) = system(|o| o).await;
    let created = app
        .send(admin_request(
            "POST",
            "/api/admin/accounts",
            Some(json!({ "email": "ed@example.org", "name": "Ed",
                         "grants": [{ "role": "editor", "event": DEMO }] })),
        ))
        .await;
    assert_eq!(created.status(), 201);
    let browser = Browser::start(&server.url(), VIEWER_ZONE).await;
    browser.open("/admin/").await;
    browser.type_into("#link-email", "ed@example.org").await;
    browser.click("#sign-in-link button[type=submit]").await;
    browser
        .wait_text("#admin-status", "If an account has this address")
        .await;
    assert_accessible(&browser, "the sign-in page").await;

    let outbox = body_json(
        &app.send(admin_request("GET", "/api/admin/outbox", None))
            .await,
    );
    let text = outbox["messages"][0]["text"].as_str().unwrap().to_string();
    let (_, link) = text.split_once("/admin/#sign-in=").expect("a sign-in link");
    let link = format!(
        "/admin/#sign-in={}",
        link.split_whitespace().next().unwrap()
    );
    browser.open("/").await;
    browser.open(&link).await;
    // Nothing happens unasked: a link someone else sent signs no one in.
    browser.wait_text("h1", "Sign in with this link?").await;
    browser.click("#use-link").await;
    browser.wait_text("h1", "Signed in as ed@example.org").await;
    assert_eq!(
        browser.eval("return location.hash").await,
        json!(""),
        "the link's secret leaves the address bar"
    );
    browser.type_into("#slug", DEMO).await;
    browser.click("#sign-in button[type=submit]").await;
    browser.wait_text("#sessions-section h2", "Sessions").await;
    browser
        .wait_text("#admin-status", "Signed in as ed@example.org")
        .await;

    // The link worked once.
    browser.open("/").await;
    browser.open(&link).await;
    browser.click("#use-link").await;
    browser
        .wait_text("#admin-status", "That sign-in link did not work")
        .await;
    browser.close().await;
}
