//! Everything one origin instance keeps between requests (Spin reuses a
//! WASIp3 instance for many, and runs work it spawned after the answer),
//! behind one handle: what it has seen settled (the schema, the demo), when
//! it last did its periodic work, its registrations waiting for a decision,
//! its database connections and the gates its transactions take turns at,
//! its delivery lanes, what it has read of published versions, the
//! pushes of seat counts it runs, and when it last noted shedding a
//! waiting room's registrations. Every map is bounded where it is used. Configuration is read once in
//! `config`.

use crate::db::Slot;
use crate::delivery::Lanes;
use crate::group_commit::Queues;
use crate::session_seats::PickQueues;
use eventfront_domain::messages::EventAbout;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Instant;

pub struct Instance {
    /// Set once this instance has seen the schema current.
    pub schema_current: Cell<bool>,
    /// Set once this instance has seen the demo question settled.
    pub demo_settled: Cell<bool>,
    /// Whether it has logged that the organizer API is closed.
    pub admin_token_refusal_logged: Cell<bool>,
    /// When it last found the database answering (`/health`).
    pub healthy_at: Cell<Option<Instant>>,
    /// When it last looked for events past their retention (Unix ms).
    pub retention_looked_at: Cell<i64>,
    /// When it last removed expired idempotency records and attempt counts.
    pub swept_at: Cell<Option<Instant>>,
    /// The minute in which this instance last counted a failed sign-in:
    /// the counts of earlier minutes are swept when it turns.
    pub sign_ins_swept_in: Cell<i64>,
    /// Each event's registrations waiting here for their batch.
    pub queues: Queues,
    /// Each event's picks of sessions waiting here for their batch.
    pub picks: PickQueues,
    /// The connection reads outside transactions share.
    pub reader: RefCell<Slot>,
    /// SQLite's drains' connection: SQLite has one writer, and their
    /// transactions take turns on it.
    pub writer: RefCell<Slot>,
    /// Requests sharing this instance queue here, in order, per scope,
    /// instead of at the database's lock.
    pub gates: RefCell<HashMap<String, Rc<futures::lock::Mutex<()>>>>,
    /// Its email and webhook delivery tasks.
    pub lanes: Lanes,
    /// What messages say about each published version it has read: a
    /// version never changes, and reading it parses the whole published
    /// draft, which a decision must not pay for every batch.
    pub about: RefCell<HashMap<(String, i64), EventAbout>>,
    /// The events whose seat counts this instance is pushing, and whether
    /// they changed again since its push task last looked.
    pub seat_count_pushes: RefCell<HashMap<String, bool>>,
    /// When it last noted shedding a registration of each event's waiting
    /// room (Unix ms): at most once a second each.
    pub sheds_noted: RefCell<HashMap<String, i64>>,
}

impl Default for Instance {
    fn default() -> Self {
        Self {
            schema_current: Cell::new(false),
            demo_settled: Cell::new(false),
            admin_token_refusal_logged: Cell::new(false),
            healthy_at: Cell::new(None),
            retention_looked_at: Cell::new(i64::MIN),
            swept_at: Cell::new(None),
            sign_ins_swept_in: Cell::new(i64::MIN),
            queues: Queues::new(),
            picks: PickQueues::new(),
            reader: RefCell::new(Slot::EMPTY),
            writer: RefCell::new(Slot::EMPTY),
            gates: RefCell::default(),
            lanes: Lanes::default(),
            about: RefCell::default(),
            seat_count_pushes: RefCell::default(),
            sheds_noted: RefCell::default(),
        }
    }
}

thread_local! {
    static INSTANCE: Rc<Instance> = Rc::default();
}

/// This instance's state.
pub fn instance() -> Rc<Instance> {
    INSTANCE.with(Rc::clone)
}
