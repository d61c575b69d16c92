//! A thin layer over the origin's database, Spin's SQLite (the default)
//! or PostgreSQL (when the `database_url` variable names one): a
//! connection per writing request or task (so that a transaction is never
//! shared with a concurrent request) and one shared by an instance's
//! readers, statements written once with `?` placeholders, rows read by
//! column name into one value type, typed errors, and transactions that
//! roll back whenever their body fails.
//!
//! Both engines run the same statements; where their SQL differs (JSON
//! aggregates, the write lock, the schema) `Engine` says how.

use crate::config::Postgres;
use crate::error::OriginError;
use spin_sdk::pg;
use spin_sdk::sqlite::{self, Value};
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

pub struct Db {
    link: Link,
    /// Whether SQLite's own busy wait is shortened on this connection (see
    /// `begin_within`); readers never need that, so it costs a statement
    /// only for writers.
    polls_for_lock: Cell<bool>,
    /// What the open transaction wrote that others act on, told to them
    /// once it commits, never before: a delivery task or a push of seat
    /// counts that looked in between would find nothing new, take the news
    /// as seen and leave it until later activity.
    news: RefCell<News>,
}

/// What a transaction's writes mean for work after it.
#[derive(Default)]
struct News {
    /// Messages for delivery.
    messages: bool,
    /// Events whose seat counts changed.
    seat_counts: Vec<String>,
}

impl News {
    fn add(&mut self, more: News) {
        self.messages |= more.messages;
        for event in more.seat_counts {
            if !self.seat_counts.contains(&event) {
                self.seat_counts.push(event);
            }
        }
    }
}

enum Link {
    Sqlite(sqlite::Connection),
    Postgres(pg::Connection),
}

/// Which database the origin runs on, and the SQL where the two differ.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    /// An aggregate: a JSON array (as text) of one array of `values` per
    /// row, `[]` for none.
    pub fn json_rows(self, values: &str) -> String {
        match self {
            Engine::Sqlite => format!("json_group_array(json_array({values}))"),
            Engine::Postgres => {
                format!("coalesce(json_agg(json_build_array({values})), '[]')::text")
            }
        }
    }

    /// An aggregate: a JSON array (as text) of one object per row, of
    /// `'key', value` pairs.
    pub fn json_objects(self, pairs: &str) -> String {
        match self {
            Engine::Sqlite => format!("json_group_array(json_object({pairs}))"),
            Engine::Postgres => {
                format!("coalesce(json_agg(json_build_object({pairs})), '[]')::text")
            }
        }
    }

    /// The text at `path` (keys, outermost first) in the JSON held by
    /// text column `column`.
    pub fn json_field(self, column: &str, path: &[&str]) -> String {
        match self {
            Engine::Sqlite => format!("json_extract({column}, '$.{}')", path.join(".")),
            Engine::Postgres => format!("(CAST({column} AS json) #>> '{{{}}}')", path.join(",")),
        }
    }

    /// An aggregate: a JSON object (as text) of `value` by `key`.
    pub fn json_map(self, key: &str, value: &str) -> String {
        match self {
            Engine::Sqlite => format!("json_group_object({key}, {value})"),
            Engine::Postgres => format!("coalesce(json_object_agg({key}, {value}), '{{}}')::text"),
        }
    }
}

/// A PostgreSQL server the origin runs on.
/// Where the database is: Spin's `default` SQLite database, unless the
/// `database_url` variable names a PostgreSQL server.
async fn location() -> Result<&'static Option<Postgres>, OriginError> {
    crate::config::get()
        .await
        .database
        .as_ref()
        .map_err(|()| OriginError::Config("a database variable is not set".into()))
}

/// Which engine this instance runs on, without opening a connection.
pub async fn engine() -> Result<Engine, OriginError> {
    Ok(match location().await? {
        None => Engine::Sqlite,
        Some(_) => Engine::Postgres,
    })
}

/// What a write transaction locks. On PostgreSQL: one event (its
/// registrations, settings and drafts), so that two events never wait for
/// each other; the outbox's claims; or the whole database (a migration),
/// which waits for every other and every other waits for. SQLite has one
/// writer: every scope takes its one write lock.
#[derive(Clone, Copy, Debug)]
pub enum Scope<'a> {
    Event(&'a str),
    Outbox,
    Whole,
}

impl<'a> Scope<'a> {
    /// The key space and key of this scope's own PostgreSQL lock, taken
    /// under `PG_WRITE_LOCK` shared; `None` for the whole database, which
    /// takes that one alone.
    fn pg_lock(self) -> Option<(i32, &'a str)> {
        match self {
            Scope::Event(event) => Some((PG_EVENT_LOCKS, event)),
            Scope::Outbox => Some((PG_OUTBOX_LOCK, "")),
            Scope::Whole => None,
        }
    }

    /// The in-instance queue of this scope's transactions.
    fn gate(self, engine: Engine) -> Rc<futures::lock::Mutex<()>> {
        let key = match (engine, self) {
            (Engine::Sqlite, _) | (Engine::Postgres, Scope::Whole) => "",
            (Engine::Postgres, Scope::Outbox) => "/outbox",
            (Engine::Postgres, Scope::Event(event)) => event,
        };
        let instance = crate::instance::instance();
        let mut gates = instance.gates.borrow_mut();
        if gates.len() >= GATES_KEPT && !gates.contains_key(key) {
            // Only gates nobody is queued at are let go.
            gates.retain(|_, gate| Rc::strong_count(gate) > 1);
        }
        gates.entry(key.to_string()).or_default().clone()
    }
}

/// Scopes whose gates an instance keeps before letting idle ones go.
const GATES_KEPT: usize = 256;

/// How long a request waits for SQLite's write lock unless it says
/// otherwise; the registration path sets its own, shorter, budget.
const LOCK_WAIT: Duration = Duration::from_secs(10);
/// How long SQLite waits for the write lock before the origin asks again.
const LOCK_POLL: Duration = Duration::from_millis(10);

fn failed(e: sqlite::Error) -> OriginError {
    match e {
        // Another connection holds the write lock.
        sqlite::Error::Io(message) if message.contains("database is locked") => OriginError::Busy,
        e => OriginError::Database(format!("{e:?}")),
    }
}

/// SQLSTATEs after which nothing was written and a retry may succeed: the
/// write lock not had within `lock_timeout`, a serialization failure, a
/// deadlock, and a unique key another transaction wrote first outside the
/// lock this one holds (an `Idempotency-Key` two events' batches stored
/// at once), which the retry then reads.
const PG_RETRYABLE: [&str; 4] = ["55P03", "40001", "40P01", "23505"];

fn pg_failed(e: pg::Error) -> OriginError {
    if let pg::Error::PgError(pg::PgError::QueryFailed(pg::QueryError::DbError(db))) = &e
        && PG_RETRYABLE.contains(&db.code.as_str())
    {
        return OriginError::Busy;
    }
    OriginError::Database(format!("{e:?}"))
}

fn to_pg(value: Value) -> pg::ParameterValue {
    match value {
        Value::Integer(i) => pg::ParameterValue::Int64(i),
        Value::Real(f) => pg::ParameterValue::Floating64(f),
        Value::Text(s) => pg::ParameterValue::Str(s),
        Value::Blob(b) => pg::ParameterValue::Binary(b),
        Value::Null => pg::ParameterValue::DbNull,
    }
}

/// A PostgreSQL value as the SQLite value the origin reads: booleans as 0
/// and 1 (as SQLite gives them), whole decimals (`sum`) as integers, JSON
/// as its text. A type the origin never reads (a `json` column not cast to
/// text, a date) is an error, not a silent null.
fn from_pg(value: pg::DbValue) -> Result<Value, OriginError> {
    Ok(match value {
        pg::DbValue::Boolean(b) => Value::Integer(i64::from(b)),
        pg::DbValue::Int8(i) => Value::Integer(i64::from(i)),
        pg::DbValue::Int16(i) => Value::Integer(i64::from(i)),
        pg::DbValue::Int32(i) => Value::Integer(i64::from(i)),
        pg::DbValue::Int64(i) => Value::Integer(i),
        pg::DbValue::Floating32(f) => Value::Real(f64::from(f)),
        pg::DbValue::Floating64(f) => Value::Real(f),
        pg::DbValue::Str(s) | pg::DbValue::Uuid(s) => Value::Text(s),
        pg::DbValue::Binary(b) => Value::Blob(b),
        pg::DbValue::Jsonb(b) => Value::Text(String::from_utf8_lossy(&b).into_owned()),
        pg::DbValue::Decimal(d) => d
            .parse()
            .map(Value::Integer)
            .or_else(|_| d.parse().map(Value::Real))
            .unwrap_or(Value::Text(d)),
        pg::DbValue::DbNull => Value::Null,
        other => {
            return Err(OriginError::Database(format!(
                "a column of a type the origin does not read: {other:?}"
            )));
        }
    })
}

/// `sql` with SQLite's `?` placeholders numbered as PostgreSQL's `$1`,
/// `$2`…; a `?` inside a quoted literal or identifier stays.
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut quote = None;
    let mut n = 0;
    for c in sql.chars() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '?') => {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

/// One result row, its columns read by name.
pub struct Row {
    columns: Rc<[String]>,
    values: Vec<Value>,
}

impl Row {
    fn value(&self, column: &str) -> &Value {
        self.columns
            .iter()
            .position(|c| c == column)
            .map_or(&Value::Null, |i| &self.values[i])
    }

    /// The column as text ("" when null).
    pub fn text(&self, column: &str) -> String {
        self.opt_text(column).unwrap_or_default().to_string()
    }

    pub fn opt_text(&self, column: &str) -> Option<&str> {
        match self.value(column) {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The column as an integer (0 when null).
    pub fn int(&self, column: &str) -> i64 {
        self.opt_int(column).unwrap_or_default()
    }

    pub fn opt_int(&self, column: &str) -> Option<i64> {
        match self.value(column) {
            Value::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// The column's JSON text (as `Engine::json_rows` builds it), read as
    /// a `T`.
    pub fn json<T: serde::de::DeserializeOwned>(&self, column: &str) -> Result<T, OriginError> {
        serde_json::from_str(self.opt_text(column).unwrap_or_default())
            .map_err(|e| OriginError::Database(format!("unreadable {column}: {e}")))
    }
}

/// A connection shared by this instance's requests while they use it.
#[derive(Clone)]
pub struct Kept(Rc<Db>);

impl std::ops::Deref for Kept {
    type Target = Db;

    fn deref(&self) -> &Db {
        &self.0
    }
}

/// Where an instance keeps a connection for one use (its readers', its
/// registration queue's). Opening one costs more than most statements:
/// SQLite reads the whole schema first; a PostgreSQL session out of
/// Spin's pool is recycled (a batch of resets) and then leaves any
/// transaction a trapped request left open. So a SQLite connection is
/// kept while the instance lives, and a PostgreSQL session while any of
/// the instance's requests uses it: Spin's pool holds 64 sessions per
/// address for all the component's instances together, and instances
/// each holding theirs while they wait for work would leave the pool
/// empty under load.
pub struct Slot {
    /// Held only so that the connection outlives its users (SQLite's).
    _kept_alive: Option<Rc<Db>>,
    shared: Weak<Db>,
}

impl Slot {
    pub const EMPTY: Self = Self {
        _kept_alive: None,
        shared: Weak::new(),
    };
}

/// Reads outside any transaction, shared by every request of this
/// instance. Never used to write: a transaction on it would show its
/// uncommitted rows to the other requests reading through it.
pub struct Reader(Kept);

impl Reader {
    pub async fn get() -> Result<Self, OriginError> {
        Ok(Self(Db::kept(&crate::instance::instance().reader).await?))
    }

    pub async fn rows(
        &self,
        sql: &str,
        params: impl IntoIterator<Item = Value>,
    ) -> Result<Vec<Row>, OriginError> {
        self.0.rows(sql, params).await
    }
}

/// A PostgreSQL session out of Spin's pool, outside any transaction.
async fn open_postgres(server: &Postgres) -> Result<pg::Connection, OriginError> {
    let options = pg::OpenOptions {
        ca_root: server.ca_root.clone().map(pg::Certificate::Text),
    };
    let connection = pg::Connection::open_with_options(&server.url, options)
        .await
        .map_err(pg_failed)?;
    // Spin pools PostgreSQL sessions: one a trapped request left inside a
    // transaction comes back still inside it. Ending it here keeps every
    // request out of another's transaction (PostgreSQL only warns when
    // there is none).
    connection
        .execute("ROLLBACK", [])
        .await
        .map_err(pg_failed)?;
    Ok(connection)
}

/// The key of the advisory lock every PostgreSQL write transaction takes:
/// shared by those of one event or of the outbox (which also take a lock
/// of their own, exclusive), exclusive for the whole database. As SQLite's
/// `BEGIN IMMEDIATE` takes its write lock, so decisions about an event
/// read and write as if alone, on either engine.
const PG_WRITE_LOCK: i64 = 0x6576_656e_7466_726f;
/// The key space (the first of two 32-bit keys) of the locks of single
/// events, each keyed by `hashtext` of its slug. Two-key locks never meet
/// `PG_WRITE_LOCK`, a one-key lock.
const PG_EVENT_LOCKS: i32 = 0x4576_6e74;
/// The key space of the outbox's claim lock.
const PG_OUTBOX_LOCK: i32 = 0x4f75_7462;

impl Db {
    /// A connection of this request's own. The schema is not touched here:
    /// `schema::ready` migrates once per instance, before the first route.
    pub async fn open() -> Result<Self, OriginError> {
        let link = match location().await? {
            None => Link::Sqlite(sqlite::Connection::open_default().await.map_err(failed)?),
            Some(server) => Link::Postgres(open_postgres(server).await?),
        };
        Ok(Self {
            link,
            polls_for_lock: Cell::new(false),
            news: RefCell::default(),
        })
    }

    pub fn engine(&self) -> Engine {
        match self.link {
            Link::Sqlite(_) => Engine::Sqlite,
            Link::Postgres(_) => Engine::Postgres,
        }
    }

    /// The connection in `slot`, or a new one kept there.
    pub async fn kept(slot: &RefCell<Slot>) -> Result<Kept, OriginError> {
        if let Some(db) = slot.borrow().shared.upgrade() {
            return Ok(Kept(db));
        }
        let db = Rc::new(Db::open().await?);
        *slot.borrow_mut() = Slot {
            _kept_alive: (db.engine() == Engine::Sqlite).then(|| db.clone()),
            shared: Rc::downgrade(&db),
        };
        Ok(Kept(db))
    }

    pub async fn rows(
        &self,
        sql: &str,
        params: impl IntoIterator<Item = Value>,
    ) -> Result<Vec<Row>, OriginError> {
        match &self.link {
            Link::Sqlite(connection) => {
                let result = connection.execute(sql, params).await.map_err(failed)?;
                let columns: Rc<[String]> = result.columns().into();
                let rows = result.collect().await.map_err(failed)?;
                Ok(rows
                    .into_iter()
                    .map(|row| Row {
                        columns: columns.clone(),
                        values: row.values,
                    })
                    .collect())
            }
            Link::Postgres(connection) => {
                let params: Vec<_> = params.into_iter().map(to_pg).collect();
                let result = connection
                    .query(numbered(sql), params)
                    .await
                    .map_err(pg_failed)?;
                let (columns, mut stream, outcome) = result.into_inner();
                let columns: Rc<[String]> = columns.into_iter().map(|c| c.name).collect();
                let mut rows = Vec::new();
                while let Some(values) = stream.next().await {
                    rows.push(Row {
                        columns: columns.clone(),
                        values: values.into_iter().map(from_pg).collect::<Result<_, _>>()?,
                    });
                }
                outcome
                    .await
                    .map_err(|e| pg_failed(pg::Error::PgError(e)))?;
                Ok(rows)
            }
        }
    }

    pub async fn exec(
        &self,
        sql: &str,
        params: impl IntoIterator<Item = Value>,
    ) -> Result<(), OriginError> {
        match &self.link {
            Link::Sqlite(_) => self.rows(sql, params).await.map(drop),
            Link::Postgres(connection) => {
                let params: Vec<_> = params.into_iter().map(to_pg).collect();
                connection
                    .execute(numbered(sql), params)
                    .await
                    .map(drop)
                    .map_err(pg_failed)
            }
        }
    }

    /// The first row, if any.
    pub async fn row(
        &self,
        sql: &str,
        params: impl IntoIterator<Item = Value>,
    ) -> Result<Option<Row>, OriginError> {
        Ok(self.rows(sql, params).await?.into_iter().next())
    }

    /// Runs `body` in a write transaction of `scope` taken up front, so
    /// that reads inside it see no concurrent writer of that scope: commits
    /// on `Ok`, rolls back on `Err`.
    pub async fn transaction<T>(
        &self,
        scope: Scope<'_>,
        body: impl AsyncFnOnce(&Db) -> Result<T, OriginError>,
    ) -> Result<T, OriginError> {
        self.transaction_within(scope, LOCK_WAIT, body).await
    }

    /// `transaction`, failing with `OriginError::Busy` if the write lock
    /// is not had within `limit`.
    pub async fn transaction_within<T>(
        &self,
        scope: Scope<'_>,
        limit: Duration,
        body: impl AsyncFnOnce(&Db) -> Result<T, OriginError>,
    ) -> Result<T, OriginError> {
        self.in_turn(scope, async || {
            self.begin_within(scope, limit).await?;
            let value = body(self).await?;
            self.exec("COMMIT", []).await?;
            Ok(value)
        })
        .await
    }

    /// A write transaction of `scope` that reads, decides in memory and
    /// writes, with two flights to a PostgreSQL server however many
    /// statements it holds: `reads` are sent with the begin and the lock,
    /// and run inside the transaction as soon as the lock is had; the
    /// writes `decide` returns are sent with the commit. The lock is held
    /// for one round trip and the time to decide. (`decide` may read or
    /// write on its own, for what is rarely needed.) On SQLite, where a
    /// call costs no round trip, `reads` wait for the lock.
    pub async fn read_decide_write<R, T>(
        &self,
        scope: Scope<'_>,
        reads: impl AsyncFnOnce(&Db) -> Result<R, OriginError>,
        decide: impl AsyncFnOnce(&Db, R) -> Result<(T, Writes), OriginError>,
    ) -> Result<T, OriginError> {
        self.in_turn(scope, async || {
            let read = match self.engine() {
                Engine::Sqlite => {
                    self.begin_within(scope, LOCK_WAIT).await?;
                    reads(self).await
                }
                Engine::Postgres => {
                    let (begun, read) =
                        futures::join!(self.begin_within(scope, LOCK_WAIT), reads(self));
                    begun?;
                    read
                }
            }?;
            let (value, writes) = decide(self, read).await?;
            writes.commit(self).await?;
            Ok(value)
        })
        .await
    }

    /// Begins a transaction that reads one snapshot, taken at its first
    /// statement, and holds no lock while it reads and decides (PostgreSQL's
    /// `REPEATABLE READ`): its writes go in with `commit_locked`, which
    /// fails, writing nothing, should another writer have changed a row it
    /// writes since that snapshot. Ended by `commit_locked` or `rollback`.
    pub async fn begin_snapshot(&self) -> Result<(), OriginError> {
        self.exec("BEGIN ISOLATION LEVEL REPEATABLE READ", []).await
    }

    /// Takes `scope`'s lock within `limit` inside the open transaction, on
    /// PostgreSQL (taking it again is free: advisory locks count); SQLite's
    /// transactions hold its one write lock from their start.
    pub async fn lock(&self, scope: Scope<'_>, limit: Duration) -> Result<(), OriginError> {
        match self.engine() {
            Engine::Sqlite => Ok(()),
            Engine::Postgres => {
                let (sql, params) = lock_statement(scope, limit);
                self.exec(&sql, params).await
            }
        }
    }

    /// Commits the transaction `begin_snapshot` began with `writes`, under
    /// `scope`'s lock (had within `limit`): the lock's request, the writes
    /// and the commit are sent together, so the server holds the lock only
    /// while it runs them, however far it is. Serialized against every
    /// writer of `scope` as if it had read under the lock, provided each
    /// of them writes a row this transaction writes too (see
    /// `group_commit`): then a change since the snapshot fails the commit
    /// as a serialization failure (`OriginError::Busy`) and nothing is
    /// written. Rolls back on any failure.
    pub async fn commit_locked(
        &self,
        scope: Scope<'_>,
        limit: Duration,
        writes: Writes,
    ) -> Result<(), OriginError> {
        let (sql, params) = lock_statement(scope, limit);
        let (locked, committed) = futures::join!(self.exec(&sql, params), writes.commit(self));
        let outcome = locked.and(committed);
        match &outcome {
            // Started here, not after a response: a pooled decision may
            // commit after its own instance's requests were all answered.
            Ok(()) => {
                if self.committed() {
                    crate::delivery::start();
                }
            }
            Err(_) => {
                self.news.take();
                self.rollback().await;
            }
        }
        outcome
    }

    /// Ends the open transaction, if any, writing nothing.
    pub async fn rollback(&self) {
        let _ = self.exec("ROLLBACK", []).await;
    }

    /// Runs `transaction` (which begins and commits one) at `scope`'s gate,
    /// and rolls back whatever it leaves open when it fails: a failed body
    /// or commit, or a lock not had (on PostgreSQL, where the transaction
    /// began first). The connection stays clean for the instance's next
    /// transaction.
    async fn in_turn<T>(
        &self,
        scope: Scope<'_>,
        transaction: impl AsyncFnOnce() -> Result<T, OriginError>,
    ) -> Result<T, OriginError> {
        let gate = scope.gate(self.engine());
        let _turn = gate.lock().await;
        let outcome = transaction().await;
        if outcome.is_err() {
            let _ = self.exec("ROLLBACK", []).await;
        }
        if outcome.is_ok() {
            self.committed();
        } else {
            self.news.take();
        }
        outcome
    }

    /// Tells whoever acts on what the transaction just committed; returns
    /// whether it queued messages.
    fn committed(&self) -> bool {
        let news = self.news.take();
        if news.messages {
            crate::delivery::queued();
        }
        for event in &news.seat_counts {
            crate::seat_counts::changed(event);
        }
        news.messages
    }

    /// Puts a SQLite database in write-ahead-log mode, so that readers
    /// never wait for a writer. Switching needs the database to itself and
    /// fails at once (SQLite's busy wait does not apply) while another
    /// connection is using it, as when instances start together; so it is
    /// asked again until `LOCK_WAIT`.
    pub async fn use_write_ahead_log(&self) -> Result<(), OriginError> {
        let asked = Instant::now();
        loop {
            match self.exec("PRAGMA journal_mode = WAL", []).await {
                Err(OriginError::Busy) if asked.elapsed() < LOCK_WAIT => {
                    spin_sdk::time::sleep(Duration::from_millis(2)).await;
                }
                outcome => return outcome,
            }
        }
    }

    /// Takes the write lock of `scope` within `limit`.
    async fn begin_within(&self, scope: Scope<'_>, limit: Duration) -> Result<(), OriginError> {
        match self.engine() {
            Engine::Sqlite => self.begin_sqlite(limit).await,
            Engine::Postgres => self.begin_postgres(scope, limit).await,
        }
    }

    /// `BEGIN` and the locks of `scope`, sent together. The driver sends a
    /// connection's statements in the order they are asked for, and Spin
    /// asks it when the guest calls (wasmtime polls a host call once as it
    /// is made), so the lock, and any statement the caller sends alongside,
    /// runs inside the transaction, in order.
    async fn begin_postgres(&self, scope: Scope<'_>, limit: Duration) -> Result<(), OriginError> {
        let (sql, params) = lock_statement(scope, limit);
        let (begun, locked) = futures::join!(self.exec("BEGIN", []), self.exec(&sql, params));
        begun.and(locked)
    }

    /// SQLite's own busy wait sleeps ever longer (up to 100 ms a time),
    /// leaving the lock idle long after it is released while instances
    /// wait; so SQLite is asked to wait only `LOCK_POLL` at a time (it
    /// retries within that after 1, 3 and 8 ms), and asked again until
    /// `limit`. Measured at 64 clients: 20 ms and 50 ms did no better;
    /// SQLite's own wait gave batches of one.
    async fn begin_sqlite(&self, limit: Duration) -> Result<(), OriginError> {
        if !self.polls_for_lock.get() {
            // PRAGMA takes no parameters; the number is ours.
            let poll = LOCK_POLL.as_millis();
            self.exec(&format!("PRAGMA busy_timeout = {poll}"), [])
                .await?;
            self.polls_for_lock.set(true);
        }
        let asked = Instant::now();
        loop {
            match self.exec("BEGIN IMMEDIATE", []).await {
                Err(OriginError::Busy) if asked.elapsed() < limit => {}
                outcome => return outcome,
            }
        }
    }
}

/// The statement that takes `scope`'s PostgreSQL locks within `limit`:
/// the wait is set (as `SET LOCAL` sets it) before the locks are asked
/// for, in one statement, as the materialized CTE runs first.
fn lock_statement(scope: Scope<'_>, limit: Duration) -> (String, Vec<Value>) {
    let wait = text(limit.as_millis().max(1).to_string());
    match scope.pg_lock() {
        None => (
            "WITH waits AS MATERIALIZED
                 (SELECT set_config('lock_timeout', ?, true) AS lock_timeout)
             SELECT pg_advisory_xact_lock(?) FROM waits"
                .to_string(),
            vec![wait, int(PG_WRITE_LOCK)],
        ),
        // The key space is ours, written in; a parameter would be sent as
        // a bigint where the function takes an integer.
        Some((space, key)) => (
            format!(
                "WITH waits AS MATERIALIZED
                     (SELECT set_config('lock_timeout', ?, true) AS lock_timeout)
                 SELECT pg_advisory_xact_lock_shared(?),
                     pg_advisory_xact_lock({space}, hashtext(?))
                 FROM waits"
            ),
            vec![wait, int(PG_WRITE_LOCK), text(key)],
        ),
    }
}

/// Writes (plain `INSERT`s, `UPDATE`s or `DELETE`s) that touch different
/// rows, run in order on SQLite and as one statement on PostgreSQL
/// (`WITH w0 AS (INSERT …), … INSERT …`), where
/// every statement is two round trips: inside the write transaction, each
/// one lengthens the time the lock is held. Being one statement there,
/// they see the same snapshot and none sees another's rows; references
/// between them are checked at its end.
#[derive(Default)]
pub struct Writes {
    statements: Vec<(String, Vec<Value>)>,
    news: News,
}

/// Parameters in one folded statement at most: SQLite's limit, well
/// within PostgreSQL's (65,535).
const PARAMETERS_PER_STATEMENT: usize = 32_766;

impl Writes {
    pub fn push(&mut self, sql: String, params: impl IntoIterator<Item = Value>) {
        self.statements.push((sql, params.into_iter().collect()));
    }

    /// Notes that these writes queue messages for delivery, which starts
    /// once the transaction they are part of commits.
    pub fn queue_messages(&mut self) {
        self.news.messages = true;
    }

    /// Notes that these writes change `event`'s seat counts, which are
    /// pushed to the edges once the transaction they are part of commits.
    pub fn change_seat_counts(&mut self, event: &str) {
        self.news.add(News {
            messages: false,
            seat_counts: vec![event.to_string()],
        });
    }

    /// Runs the writes and commits the transaction they are part of. On
    /// PostgreSQL the commit is sent with them (it runs after them, and
    /// turns into a rollback should any fail).
    pub async fn commit(self, db: &Db) -> Result<(), OriginError> {
        if db.engine() == Engine::Sqlite {
            self.run(db).await?;
            return db.exec("COMMIT", []).await;
        }
        db.news.borrow_mut().add(self.news);
        let statements = fold(self.statements);
        let writes = statements
            .into_iter()
            .map(|(sql, params)| async move { db.exec(&sql, params).await });
        let (written, committed) =
            futures::join!(futures::future::join_all(writes), db.exec("COMMIT", []));
        written.into_iter().collect::<Result<(), _>>()?;
        committed
    }

    /// Runs the writes in the caller's transaction.
    pub async fn run(self, db: &Db) -> Result<(), OriginError> {
        db.news.borrow_mut().add(self.news);
        let statements = match db.engine() {
            Engine::Sqlite => self.statements,
            Engine::Postgres => fold(self.statements),
        };
        for (sql, params) in statements {
            db.exec(&sql, params).await?;
        }
        Ok(())
    }
}

/// `statements` as few statements as the parameter limit allows: all but
/// the last of each group in a `WITH` before it.
fn fold(statements: Vec<(String, Vec<Value>)>) -> Vec<(String, Vec<Value>)> {
    let mut groups: Vec<Vec<(String, Vec<Value>)>> = Vec::new();
    let mut counted = 0;
    for statement in statements {
        match groups.last_mut() {
            Some(group) if counted + statement.1.len() <= PARAMETERS_PER_STATEMENT => {
                counted += statement.1.len();
                group.push(statement);
            }
            _ => {
                counted = statement.1.len();
                groups.push(vec![statement]);
            }
        }
    }
    groups
        .into_iter()
        .map(|mut group| {
            let (last, mut params) = group.pop().expect("groups are never empty");
            if group.is_empty() {
                return (last, params);
            }
            let ctes: Vec<String> = group
                .iter()
                .enumerate()
                .map(|(i, (sql, _))| format!("w{i} AS ({sql})"))
                .collect();
            let mut all: Vec<Value> = group.into_iter().flat_map(|(_, p)| p).collect();
            all.append(&mut params);
            (format!("WITH {} {last}", ctes.join(", ")), all)
        })
        .collect()
}

/// Rows written by one multi-row statement at most: well within SQLite's
/// limit on parameters (32,766) at the widest row written.
pub const ROWS_PER_STATEMENT: usize = 500;

/// `(?, ?, …), (?, ?, …)…`: `rows` groups of `columns` placeholders.
pub fn placeholders(rows: usize, columns: usize) -> String {
    let row = format!("({})", vec!["?"; columns].join(", "));
    vec![row; rows].join(", ")
}

/// `?, ?, …`: `n` placeholders for an `IN` list; `NULL` (which matches
/// nothing) for none, as PostgreSQL refuses an empty list.
pub fn in_list(n: usize) -> String {
    if n == 0 {
        return "NULL".into();
    }
    vec!["?"; n].join(", ")
}

pub fn text(s: impl Into<String>) -> Value {
    Value::Text(s.into())
}

pub fn int(i: i64) -> Value {
    Value::Integer(i)
}

pub fn opt_int(i: Option<i64>) -> Value {
    i.map_or(Value::Null, Value::Integer)
}

pub fn opt_text(s: Option<&str>) -> Value {
    s.map_or(Value::Null, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres_but_not_inside_quotes() {
        assert_eq!(
            numbered("SELECT '?' AS \"a?\", x FROM t WHERE a = ? AND b IN (?, ?)"),
            "SELECT '?' AS \"a?\", x FROM t WHERE a = $1 AND b IN ($2, $3)"
        );
        assert_eq!(numbered("SELECT 'it''s ?', ?"), "SELECT 'it''s ?', $1");
    }

    #[test]
    fn postgres_values_read_as_sqlite_gives_them() {
        let read = |v| match from_pg(v).unwrap() {
            Value::Integer(i) => format!("int {i}"),
            Value::Real(f) => format!("real {f}"),
            Value::Text(s) => format!("text {s}"),
            Value::Null => "null".into(),
            Value::Blob(_) => "blob".into(),
        };
        assert_eq!(read(pg::DbValue::Boolean(true)), "int 1");
        assert_eq!(read(pg::DbValue::Int32(7)), "int 7");
        assert_eq!(read(pg::DbValue::Decimal("12".into())), "int 12");
        assert_eq!(read(pg::DbValue::Decimal("1.5".into())), "real 1.5");
        assert_eq!(read(pg::DbValue::Jsonb(b"[1]".to_vec())), "text [1]");
        assert_eq!(read(pg::DbValue::DbNull), "null");
        assert!(from_pg(pg::DbValue::Unsupported(b"{}".to_vec())).is_err());
    }

    #[test]
    fn writes_fold_into_one_statement_whose_placeholders_follow_their_order() {
        let folded = fold(vec![
            ("INSERT INTO a (x) VALUES (?)".into(), vec![int(1)]),
            (
                "INSERT INTO b (y, z) VALUES (?, ?)".into(),
                vec![int(2), int(3)],
            ),
            ("INSERT INTO c (w) VALUES (?)".into(), vec![int(4)]),
        ]);
        assert_eq!(folded.len(), 1);
        let (sql, params) = &folded[0];
        assert_eq!(
            numbered(sql),
            "WITH w0 AS (INSERT INTO a (x) VALUES ($1)), \
             w1 AS (INSERT INTO b (y, z) VALUES ($2, $3)) INSERT INTO c (w) VALUES ($4)"
        );
        let numbers: Vec<i64> = params
            .iter()
            .map(|v| match v {
                Value::Integer(i) => *i,
                other => panic!("not an integer: {other:?}"),
            })
            .collect();
        assert_eq!(numbers, [1, 2, 3, 4]);
    }

    #[test]
    fn writes_past_the_parameter_limit_fold_into_several_statements() {
        let wide = |n: usize| ("INSERT INTO t VALUES (?)".to_string(), vec![int(0); n]);
        let folded = fold(vec![wide(30_000), wide(2_000), wide(1_000), wide(5)]);
        let sizes: Vec<usize> = folded.iter().map(|(_, p)| p.len()).collect();
        assert_eq!(sizes, [32_000, 1_005]);
        assert!(folded[1].0.starts_with("WITH w0 AS (INSERT INTO t"));
    }

    #[test]
    fn an_empty_in_list_matches_nothing_on_either_engine() {
        assert_eq!(in_list(0), "NULL");
        assert_eq!(in_list(2), "?, ?");
    }
}
