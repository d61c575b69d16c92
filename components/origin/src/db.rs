//! A thin layer over Spin's SQLite: one connection per request (so that a
//! transaction is never shared with a concurrent request), rows read by
//! column name, typed errors, and transactions that roll back whenever
//! their body fails.

use crate::error::OriginError;
use spin_sdk::sqlite::{Connection, Error, Value};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

pub struct Db {
    connection: Connection,
    /// Whether SQLite's own busy wait is shortened on this connection (see
    /// `begin_within`); readers never need that, so it costs a statement
    /// only for writers.
    polls_for_lock: Cell<bool>,
}

static WRITE_GATE: futures::lock::Mutex<()> = futures::lock::Mutex::new(());

/// How long a request waits for SQLite's write lock unless it says
/// otherwise; the registration path sets its own, shorter, budget.
const LOCK_WAIT: Duration = Duration::from_secs(10);
/// How long SQLite waits for the write lock before the origin asks again.
const LOCK_POLL: Duration = Duration::from_millis(10);

fn failed(e: Error) -> OriginError {
    match e {
        // Another connection holds the write lock.
        Error::Io(message) if message.contains("database is locked") => OriginError::Busy,
        e => OriginError::Database(format!("{e:?}")),
    }
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

    /// The column's JSON text (as SQLite's `json_group_array` builds it),
    /// read as a `T`.
    pub fn json<T: serde::de::DeserializeOwned>(&self, column: &str) -> Result<T, OriginError> {
        serde_json::from_str(self.opt_text(column).unwrap_or("null"))
            .map_err(|e| OriginError::Database(format!("unreadable {column}: {e}")))
    }
}

/// A connection this instance keeps across requests: opening one costs
/// more than most statements (SQLite reads the whole schema first).
#[derive(Clone)]
pub struct Kept(Rc<Db>);

impl std::ops::Deref for Kept {
    type Target = Db;

    fn deref(&self) -> &Db {
        &self.0
    }
}

thread_local! {
    static READER: RefCell<Option<Kept>> = const { RefCell::new(None) };
}

/// Reads outside any transaction, shared by every request of this
/// instance. Never used to write: a transaction on it would show its
/// uncommitted rows to the other requests reading through it.
pub struct Reader(Kept);

impl Reader {
    pub async fn get() -> Result<Self, OriginError> {
        Ok(Self(Db::kept(&READER).await?))
    }

    pub async fn row(
        &self,
        sql: &str,
        params: impl IntoIterator<Item = Value>,
    ) -> Result<Option<Row>, OriginError> {
        self.0.row(sql, params).await
    }
}

impl Db {
    /// A connection of this request's own. The schema is not touched here:
    /// `schema::ready` migrates once per instance, before the first route.
    pub async fn open() -> Result<Self, OriginError> {
        Ok(Self {
            connection: Connection::open_default().await.map_err(failed)?,
            polls_for_lock: Cell::new(false),
        })
    }

    /// A connection kept by this instance for one task's own use (the
    /// registration queue's), opened on first use.
    pub async fn kept(
        slot: &'static std::thread::LocalKey<RefCell<Option<Kept>>>,
    ) -> Result<Kept, OriginError> {
        if let Some(kept) = slot.with_borrow(Clone::clone) {
            return Ok(kept);
        }
        let kept = Kept(Rc::new(Db::open().await?));
        slot.set(Some(kept.clone()));
        Ok(kept)
    }

    pub async fn rows(
        &self,
        sql: &str,
        params: impl IntoIterator<Item = Value>,
    ) -> Result<Vec<Row>, OriginError> {
        let result = self.connection.execute(sql, params).await.map_err(failed)?;
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

    pub async fn exec(
        &self,
        sql: &str,
        params: impl IntoIterator<Item = Value>,
    ) -> Result<(), OriginError> {
        self.rows(sql, params).await.map(drop)
    }

    /// The first row, if any.
    pub async fn row(
        &self,
        sql: &str,
        params: impl IntoIterator<Item = Value>,
    ) -> Result<Option<Row>, OriginError> {
        Ok(self.rows(sql, params).await?.into_iter().next())
    }

    /// Runs `body` in a write transaction taken up front, so that reads
    /// inside it see no concurrent writer: commits on `Ok`, rolls back on
    /// `Err`.
    pub async fn transaction<T>(
        &self,
        body: impl AsyncFnOnce(&Db) -> Result<T, OriginError>,
    ) -> Result<T, OriginError> {
        self.transaction_within(LOCK_WAIT, body).await
    }

    /// `transaction`, failing with `OriginError::Busy` if the write lock
    /// is not had within `limit`.
    pub async fn transaction_within<T>(
        &self,
        limit: Duration,
        body: impl AsyncFnOnce(&Db) -> Result<T, OriginError>,
    ) -> Result<T, OriginError> {
        // Requests sharing this instance queue here, in order, instead of
        // at SQLite's lock.
        let _turn = WRITE_GATE.lock().await;
        self.begin_within(limit).await?;
        let outcome = match body(self).await {
            Ok(value) => self.exec("COMMIT", []).await.map(|()| value),
            Err(e) => Err(e),
        };
        // A failed body or commit leaves nothing open on this connection,
        // which the instance may keep for its next transaction.
        if outcome.is_err() {
            let _ = self.exec("ROLLBACK", []).await;
        }
        outcome
    }

    /// Puts the database in write-ahead-log mode, so that readers never
    /// wait for a writer. Switching needs the database to itself and fails
    /// at once (SQLite's busy wait does not apply) while another
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

    /// Takes the write lock within `limit`. SQLite's own busy wait sleeps
    /// ever longer (up to 100 ms a time), leaving the lock idle long after
    /// it is released while instances wait; so SQLite is asked to wait
    /// only `LOCK_POLL` at a time (it retries within that after 1, 3 and
    /// 8 ms), and asked again until `limit`. Measured at 64 clients: 20 ms
    /// and 50 ms did no better; SQLite's own wait gave batches of one.
    async fn begin_within(&self, limit: Duration) -> Result<(), OriginError> {
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

/// Rows written by one multi-row statement at most: well within SQLite's
/// limit on parameters (32,766) at the widest row written.
pub const ROWS_PER_STATEMENT: usize = 500;

/// `(?, ?, …), (?, ?, …)…`: `rows` groups of `columns` placeholders.
pub fn placeholders(rows: usize, columns: usize) -> String {
    let row = format!("({})", vec!["?"; columns].join(", "));
    vec![row; rows].join(", ")
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
