//! `spin:key-value@3.0.0` for guests, over a backend per store label.
//! The default backend is what Spin's default store is: one SQLite file
//! (`sqlite_key_value.db` in the state folder) shared by every label, or a
//! private temporary file when the app keeps no state.

use crate::bindings::spin::key_value::key_value::{self as wit, Error};
use crate::state::{SpinHost, SpinView};
use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use wasmtime::component::{Access, Accessor, FutureReader, Resource, StreamReader};

/// Where a store label's data lives.
pub trait KvBackend: Send + Sync + 'static {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    fn set(&self, key: &str, value: &[u8]) -> Result<()>;
    fn delete(&self, key: &str) -> Result<()>;
    fn exists(&self, key: &str) -> Result<bool>;
    fn keys(&self) -> Result<Vec<String>>;
}

/// How many operations a store has served, so tests can hold a component
/// to a per-request KV budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KvCounts {
    pub gets: usize,
    pub sets: usize,
    pub deletes: usize,
}

/// A store that counts what passes through it.
pub struct Counted {
    inner: Arc<dyn KvBackend>,
    gets: AtomicUsize,
    sets: AtomicUsize,
    deletes: AtomicUsize,
}

impl Counted {
    pub fn new(inner: Arc<dyn KvBackend>) -> Self {
        Self {
            inner,
            gets: AtomicUsize::new(0),
            sets: AtomicUsize::new(0),
            deletes: AtomicUsize::new(0),
        }
    }

    pub fn counts(&self) -> KvCounts {
        KvCounts {
            gets: self.gets.load(Ordering::Relaxed),
            sets: self.sets.load(Ordering::Relaxed),
            deletes: self.deletes.load(Ordering::Relaxed),
        }
    }
}

impl KvBackend for Counted {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.gets.fetch_add(1, Ordering::Relaxed);
        self.inner.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.sets.fetch_add(1, Ordering::Relaxed);
        self.inner.set(key, value)
    }
    fn delete(&self, key: &str) -> Result<()> {
        self.deletes.fetch_add(1, Ordering::Relaxed);
        self.inner.delete(key)
    }
    fn exists(&self, key: &str) -> Result<bool> {
        self.gets.fetch_add(1, Ordering::Relaxed);
        self.inner.exists(key)
    }
    fn keys(&self) -> Result<Vec<String>> {
        self.inner.keys()
    }
}

/// SQLite-backed stores sharing one database file, each label a partition
/// of the `spin_key_value` table, as in Spin's default store.
pub struct SqliteKv {
    conn: Arc<Mutex<Connection>>,
    label: String,
}

impl SqliteKv {
    /// Opens (creating if needed) the shared database at `path`, as Spin
    /// 4.1's default store does: SQLite's own defaults, so its rollback
    /// journal (not WAL) and a full sync on every write, whose cost the
    /// guests' KV writes must show here as they do under Spin.
    pub fn open_database(path: &Path) -> Result<Arc<Mutex<Connection>>> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS spin_key_value (
                store TEXT NOT NULL,
                key   TEXT NOT NULL,
                value BLOB NOT NULL,
                PRIMARY KEY (store, key)
            )",
        )?;
        Ok(Arc::new(Mutex::new(conn)))
    }

    pub fn new(conn: Arc<Mutex<Connection>>, label: &str) -> Self {
        Self {
            conn,
            label: label.to_string(),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<R>) -> Result<R> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        Ok(f(&conn)?)
    }
}

impl KvBackend for SqliteKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.with(|c| {
            c.prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .query_row(params![self.label, key], |r| r.get(0))
                .optional()
        })
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.with(|c| {
            c.prepare_cached(
                "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![self.label, key, value])
            .map(drop)
        })
    }

    fn delete(&self, key: &str) -> Result<()> {
        self.with(|c| {
            c.prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .execute(params![self.label, key])
                .map(drop)
        })
    }

    fn exists(&self, key: &str) -> Result<bool> {
        Ok(self.get(key)?.is_some())
    }

    fn keys(&self) -> Result<Vec<String>> {
        self.with(|c| {
            c.prepare_cached("SELECT key FROM spin_key_value WHERE store = ?1 ORDER BY key")?
                .query_map(params![self.label], |r| r.get(0))?
                .collect()
        })
    }
}

/// A store kept in Redis, as Spin's `redis` key-value backend keeps it:
/// each key as a Redis string, under its own name. Like Spin's, it
/// reconnects after the server went away instead of failing for good.
pub struct RedisKv {
    client: redis::Client,
    conn: Mutex<Option<redis::Connection>>,
}

/// Bounds on each connect and command, so a hanging server fails calls
/// instead of holding them.
const REDIS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

impl RedisKv {
    pub fn connect(url: &str) -> Result<Self> {
        let store = Self {
            client: redis::Client::open(url)?,
            conn: Mutex::new(None),
        };
        // Fail at start, as Spin does, when the server cannot be reached.
        store.with(|c| redis::cmd("PING").query::<String>(c))?;
        Ok(store)
    }

    fn with<R>(
        &self,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<R>,
    ) -> Result<R> {
        let mut slot = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let conn = match slot.as_mut() {
            Some(conn) => conn,
            None => {
                let conn = self.client.get_connection_with_timeout(REDIS_TIMEOUT)?;
                conn.set_read_timeout(Some(REDIS_TIMEOUT))?;
                conn.set_write_timeout(Some(REDIS_TIMEOUT))?;
                slot.insert(conn)
            }
        };
        let result = f(conn);
        if let Err(e) = &result
            && (e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error())
        {
            *slot = None;
        }
        Ok(result?)
    }
}

impl KvBackend for RedisKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.with(|c| redis::cmd("GET").arg(key).query(c))
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.with(|c| redis::cmd("SET").arg(key).arg(value).query(c))
    }

    fn delete(&self, key: &str) -> Result<()> {
        self.with(|c| redis::cmd("DEL").arg(key).query(c))
    }

    fn exists(&self, key: &str) -> Result<bool> {
        self.with(|c| redis::cmd("EXISTS").arg(key).query(c))
    }

    fn keys(&self) -> Result<Vec<String>> {
        self.with(|c| redis::cmd("KEYS").arg("*").query(c))
    }
}

/// An open store, as the guest's `store` resource.
pub struct KvStore(Arc<dyn KvBackend>);

fn other(e: anyhow::Error) -> Error {
    Error::Other(e.to_string())
}

fn backend<T>(
    accessor: &Accessor<T, SpinHost>,
    store: &Resource<KvStore>,
) -> wasmtime::Result<Arc<dyn KvBackend>> {
    accessor.with(|mut access| {
        let view = access.get();
        Ok(view.table.get(store)?.0.clone())
    })
}

impl<T> wit::HostStoreWithStore<T> for SpinHost {
    async fn open(
        accessor: &Accessor<T, Self>,
        label: String,
    ) -> wasmtime::Result<Result<Resource<KvStore>, Error>> {
        accessor.with(|mut access| {
            let view: SpinView<'_> = access.get();
            let opened = match view.caps.kv_access(&label) {
                Ok(backend) => Ok(view.table.push(KvStore(backend))?),
                Err(e) => Err(e),
            };
            Ok(opened)
        })
    }

    async fn get(
        accessor: &Accessor<T, Self>,
        store: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        Ok(backend(accessor, &store)?.get(&key).map_err(other))
    }

    async fn set(
        accessor: &Accessor<T, Self>,
        store: Resource<KvStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(backend(accessor, &store)?.set(&key, &value).map_err(other))
    }

    async fn delete(
        accessor: &Accessor<T, Self>,
        store: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(backend(accessor, &store)?.delete(&key).map_err(other))
    }

    async fn exists(
        accessor: &Accessor<T, Self>,
        store: Resource<KvStore>,
        key: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        Ok(backend(accessor, &store)?.exists(&key).map_err(other))
    }

    async fn get_keys(
        accessor: &Accessor<T, Self>,
        store: Resource<KvStore>,
    ) -> wasmtime::Result<(StreamReader<String>, FutureReader<Result<(), Error>>)> {
        let (keys, result) = match backend(accessor, &store)?.keys() {
            Ok(keys) => (keys, Ok(())),
            Err(e) => (Vec::new(), Err(other(e))),
        };
        accessor.with(|mut access| {
            Ok((
                StreamReader::new(&mut access, keys)?,
                FutureReader::new(&mut access, async move { wasmtime::error::Ok(result) })?,
            ))
        })
    }

    fn drop(mut access: Access<'_, T, Self>, store: Resource<KvStore>) -> wasmtime::Result<()> {
        access.get().table.delete(store)?;
        Ok(())
    }
}

impl wit::HostStore for SpinView<'_> {}
impl wit::Host for SpinView<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_partition_one_file_and_data_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.db");
        {
            let db = SqliteKv::open_database(&path).unwrap();
            let a = SqliteKv::new(db.clone(), "a");
            let b = SqliteKv::new(db, "b");
            a.set("k", b"1").unwrap();
            b.set("k", b"2").unwrap();
            a.set("k", b"3").unwrap();
            assert_eq!(a.keys().unwrap(), ["k"]);
        }
        let db = SqliteKv::open_database(&path).unwrap();
        let a = SqliteKv::new(db.clone(), "a");
        assert_eq!(a.get("k").unwrap().as_deref(), Some(&b"3"[..]));
        assert!(a.exists("k").unwrap());
        a.delete("k").unwrap();
        assert!(!a.exists("k").unwrap());
        assert_eq!(
            SqliteKv::new(db, "b").get("k").unwrap().as_deref(),
            Some(&b"2"[..])
        );
    }
}
