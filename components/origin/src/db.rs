//! A thin layer over Spin's SQLite: one connection per request (so that a
//! transaction is never shared with a concurrent request), rows read by
//! column name, typed errors, and transactions that roll back whenever
//! their body fails.

use crate::error::OriginError;
use spin_sdk::sqlite::{Connection, Error, Value};
use std::rc::Rc;
use std::time::Duration;

pub struct Db(Connection);

static WRITE_GATE: futures::lock::Mutex<()> = futures::lock::Mutex::new(());

/// How long a request waits for SQLite's write lock unless it says
/// otherwise; the registration path sets its own, shorter, budget.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

fn failed(e: Error) -> OriginError {
    match e {
        // Another instance held the write lock for the whole busy timeout.
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
}

impl Db {
    /// A connection of this request's own. The schema is not touched here:
    /// `schema::migrate` runs once per instance, before the first route.
    pub async fn open() -> Result<Self, OriginError> {
        let db = Self(Connection::open_default().await.map_err(failed)?);
        db.wait_for_lock(BUSY_TIMEOUT).await?;
        Ok(db)
    }

    /// How long statements on this connection wait for another instance's
    /// write lock before failing with `OriginError::Busy`.
    pub async fn wait_for_lock(&self, limit: Duration) -> Result<(), OriginError> {
        // PRAGMA takes no parameters; the number is ours.
        self.exec(&format!("PRAGMA busy_timeout = {}", limit.as_millis()), [])
            .await
    }

    pub async fn rows(
        &self,
        sql: &str,
        params: impl IntoIterator<Item = Value>,
    ) -> Result<Vec<Row>, OriginError> {
        let result = self.0.execute(sql, params).await.map_err(failed)?;
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
        // Requests sharing this instance queue here, in order, instead of
        // in SQLite's busy handler, whose growing sleeps make waiters miss
        // the lock long after it is free. Other instances still meet at
        // SQLite's lock.
        let _turn = WRITE_GATE.lock().await;
        self.exec("BEGIN IMMEDIATE", []).await?;
        match body(self).await {
            Ok(value) => {
                self.exec("COMMIT", []).await?;
                Ok(value)
            }
            Err(e) => {
                let _ = self.exec("ROLLBACK", []).await;
                Err(e)
            }
        }
    }
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
