//! A thin layer over Spin's SQLite: one connection per request (so that a
//! transaction is never shared with a concurrent request), typed errors,
//! and transactions that roll back whenever their body fails.

use crate::error::OriginError;
use spin_sdk::sqlite::{Connection, RowResult, Value};

pub struct Db(Connection);

static WRITE_GATE: futures::lock::Mutex<()> = futures::lock::Mutex::new(());

pub type Row = RowResult;

fn failed(e: impl std::fmt::Debug) -> OriginError {
    OriginError::Database(format!("{e:?}"))
}

impl Db {
    pub async fn open() -> Result<Self, OriginError> {
        let db = Self(Connection::open_default().await.map_err(failed)?);
        // Concurrent writers wait for the lock instead of failing at once.
        db.exec("PRAGMA busy_timeout = 10000", []).await?;
        crate::schema::ensure(&db).await?;
        Ok(db)
    }

    pub async fn rows(
        &self,
        sql: &str,
        params: impl IntoIterator<Item = Value>,
    ) -> Result<Vec<Row>, OriginError> {
        self.0
            .execute(sql, params)
            .await
            .map_err(failed)?
            .collect()
            .await
            .map_err(failed)
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

/// Column `i` of `row` as text ("" when null).
pub fn col_text(row: &Row, i: usize) -> String {
    row.get::<&str>(i).unwrap_or_default().to_string()
}

pub fn col_int(row: &Row, i: usize) -> i64 {
    row.get::<i64>(i).unwrap_or_default()
}

pub fn col_opt_int(row: &Row, i: usize) -> Option<i64> {
    row.get::<i64>(i)
}
