//! `spin:sqlite@3.1.0` for guests, as Spin 4.1 serves it: every `open` is a
//! connection of its own, so a transaction begun on one is isolated from
//! requests that run concurrently on others; statements run on the blocking
//! pool because SQLite waits on locks.

use crate::bindings::spin::sqlite::sqlite::{self as wit, Error, QueryResult, RowResult, Value};
use crate::state::{SpinHost, SpinView};
use rusqlite::types::ValueRef;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use wasmtime::component::{Access, Accessor, FutureReader, Resource, StreamReader};

/// A database a component may be granted, kept in a file.
pub struct SqliteDb {
    path: PathBuf,
}

impl SqliteDb {
    pub fn file(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
        }
    }

    fn connect(self: &Arc<Self>) -> SqliteConnection {
        SqliteConnection {
            conn: Arc::new(OnceLock::new()),
            db: self.clone(),
        }
    }
}

/// An open connection, as the guest's `connection` resource. As in Spin
/// 4.1, every `open` is a new SQLite connection of its own, opened on its
/// first statement and closed when the guest drops it: nothing is pooled,
/// so each request pays what it pays under Spin (opening the file, reading
/// the schema, preparing each statement again), and a transaction the
/// guest leaves open dies with its connection.
pub struct SqliteConnection {
    conn: Arc<OnceLock<Mutex<rusqlite::Connection>>>,
    db: Arc<SqliteDb>,
}

impl SqliteConnection {
    fn shared(&self) -> SharedConnection {
        SharedConnection {
            conn: self.conn.clone(),
            path: self.db.path.clone(),
        }
    }
}

/// What a statement needs of a connection, movable to the blocking pool.
struct SharedConnection {
    conn: Arc<OnceLock<Mutex<rusqlite::Connection>>>,
    path: PathBuf,
}

impl SharedConnection {
    /// The connection, opened now if this is its first statement. rusqlite
    /// opens with a 5 s busy timeout, as Spin's does.
    fn get(&self) -> Result<std::sync::MutexGuard<'_, rusqlite::Connection>, Error> {
        if self.conn.get().is_none() {
            let opened = rusqlite::Connection::open(&self.path).map_err(io)?;
            // A lost race just drops the second connection.
            let _ = self.conn.set(Mutex::new(opened));
        }
        let conn = self.conn.get().expect("set above");
        Ok(conn.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

fn io(e: impl std::fmt::Display) -> Error {
    Error::Io(e.to_string())
}

fn to_sql(v: Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as V;
    match v {
        Value::Integer(i) => V::Integer(i),
        Value::Real(f) => V::Real(f),
        Value::Text(s) => V::Text(s),
        Value::Blob(b) => V::Blob(b),
        Value::Null => V::Null,
    }
}

fn from_sql(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        ValueRef::Null => Value::Null,
    }
}

fn execute_blocking(
    conn: &SharedConnection,
    statement: &str,
    parameters: Vec<Value>,
) -> Result<QueryResult, Error> {
    let conn = conn.get()?;
    let mut stmt = conn.prepare_cached(statement).map_err(io)?;
    let columns: Vec<String> = stmt.column_names().into_iter().map(String::from).collect();
    let params = rusqlite::params_from_iter(parameters.into_iter().map(to_sql));
    let mut rows = stmt.query(params).map_err(io)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(io)? {
        let values = (0..columns.len())
            .map(|i| row.get_ref(i).map(from_sql))
            .collect::<Result<_, _>>()
            .map_err(io)?;
        out.push(RowResult { values });
    }
    Ok(QueryResult { columns, rows: out })
}

/// Runs a statement on the blocking pool: SQLite may wait there for its
/// lock without stalling other requests.
async fn run_blocking<R: Send + 'static>(
    f: impl FnOnce() -> Result<R, Error> + Send + 'static,
) -> wasmtime::Result<Result<R, Error>> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| wasmtime::format_err!("sqlite task failed: {e}"))
}

fn connection<T>(
    accessor: &Accessor<T, SpinHost>,
    conn: &Resource<SqliteConnection>,
) -> wasmtime::Result<SharedConnection> {
    accessor.with(|mut access| Ok(access.get().table.get(conn)?.shared()))
}

fn open_in(
    view: &mut SpinView<'_>,
    name: &str,
) -> wasmtime::Result<Result<Resource<SqliteConnection>, Error>> {
    let db = match view.caps.sqlite_access(name) {
        Ok(db) => db,
        Err(e) => return Ok(Err(e)),
    };
    Ok(Ok(view.table.push(db.connect())?))
}

impl<T> wit::HostConnectionWithStore<T> for SpinHost {
    async fn open_async(
        accessor: &Accessor<T, Self>,
        database: String,
    ) -> wasmtime::Result<Result<Resource<SqliteConnection>, Error>> {
        accessor.with(|mut access| open_in(&mut access.get(), &database))
    }

    async fn execute_async(
        accessor: &Accessor<T, Self>,
        conn: Resource<SqliteConnection>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<
        Result<
            (
                Vec<String>,
                StreamReader<RowResult>,
                FutureReader<Result<(), Error>>,
            ),
            Error,
        >,
    > {
        let conn = connection(accessor, &conn)?;
        let result = run_blocking(move || execute_blocking(&conn, &statement, parameters)).await?;
        let QueryResult { columns, rows } = match result {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        accessor.with(|mut access| {
            Ok(Ok((
                columns,
                StreamReader::new(&mut access, rows)?,
                FutureReader::new(&mut access, async { wasmtime::error::Ok(Ok(())) })?,
            )))
        })
    }

    async fn last_insert_rowid_async(
        accessor: &Accessor<T, Self>,
        conn: Resource<SqliteConnection>,
    ) -> wasmtime::Result<i64> {
        let conn = connection(accessor, &conn)?;
        Ok(conn.get().map_or(0, |c| c.last_insert_rowid()))
    }

    async fn changes_async(
        accessor: &Accessor<T, Self>,
        conn: Resource<SqliteConnection>,
    ) -> wasmtime::Result<u64> {
        let conn = connection(accessor, &conn)?;
        Ok(conn.get().map_or(0, |c| c.changes()))
    }

    fn drop(
        mut access: Access<'_, T, Self>,
        conn: Resource<SqliteConnection>,
    ) -> wasmtime::Result<()> {
        access.get().table.delete(conn)?;
        Ok(())
    }
}

impl wit::HostConnection for SpinView<'_> {
    fn open(
        &mut self,
        database: String,
    ) -> wasmtime::Result<Result<Resource<SqliteConnection>, Error>> {
        open_in(self, &database)
    }

    fn execute(
        &mut self,
        conn: Resource<SqliteConnection>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        let conn = self.table.get(&conn)?.shared();
        Ok(execute_blocking(&conn, &statement, parameters))
    }

    fn last_insert_rowid(&mut self, conn: Resource<SqliteConnection>) -> wasmtime::Result<i64> {
        let conn = self.table.get(&conn)?.shared();
        Ok(conn.get().map_or(0, |c| c.last_insert_rowid()))
    }

    fn changes(&mut self, conn: Resource<SqliteConnection>) -> wasmtime::Result<u64> {
        let conn = self.table.get(&conn)?.shared();
        Ok(conn.get().map_or(0, |c| c.changes()))
    }
}

impl wit::Host for SpinView<'_> {}
