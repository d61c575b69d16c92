//! What one component instance's store holds: WASI and wasi:http contexts,
//! the resource table, and the component's grants (stores, databases,
//! variables, outbound hosts, Postgres pools) that Spin's interfaces consult.

use crate::bindings::spin::key_value::key_value::Error as KvError;
use crate::bindings::spin::sqlite::sqlite::Error as SqliteError;
use crate::clock::Clock;
use crate::kv::KvBackend;
use crate::outbound::AllowedHost;
use crate::postgres::PgPools;
use crate::sqlite::SqliteDb;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use wasmtime::component::{HasData, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::WasiHttpCtx;
use wasmtime_wasi_http::p3::{WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

/// A component's grants, resolved once when the app starts and shared by
/// all of its instances.
pub struct ComponentCaps {
    pub id: String,
    /// Stores this component was granted, by label.
    pub kv: HashMap<String, Arc<dyn KvBackend>>,
    /// Every store label the app defines, granted or not.
    pub kv_defined: HashSet<String>,
    pub sqlite: HashMap<String, Arc<SqliteDb>>,
    pub sqlite_defined: HashSet<String>,
    /// Component variable name → resolved value.
    pub variables: HashMap<String, String>,
    pub allowed_hosts: Vec<AllowedHost>,
    /// Postgres sessions this component's instances have opened, pooled
    /// per address for the life of the app.
    pub postgres: PgPools,
}

impl ComponentCaps {
    /// Spin's answer to opening a store: granted, denied, or unknown.
    pub fn kv_access(&self, label: &str) -> Result<Arc<dyn KvBackend>, KvError> {
        match self.kv.get(label) {
            Some(backend) => Ok(backend.clone()),
            None if self.kv_defined.contains(label) => Err(KvError::AccessDenied),
            None => Err(KvError::NoSuchStore),
        }
    }

    pub fn sqlite_access(&self, name: &str) -> Result<Arc<SqliteDb>, SqliteError> {
        match self.sqlite.get(name) {
            Some(db) => Ok(db.clone()),
            None if self.sqlite_defined.contains(name) => Err(SqliteError::AccessDenied),
            None => Err(SqliteError::NoSuchDatabase),
        }
    }
}

/// The data of one instance's store.
pub struct InstanceState {
    pub table: ResourceTable,
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub hooks: Box<dyn WasiHttpHooks>,
    pub caps: Arc<ComponentCaps>,
    /// The clock the instance reads and waits on (the app's).
    pub clock: Clock,
}

/// Marker type on which Spin's interfaces are implemented.
pub struct SpinHost;

/// The part of an instance's state Spin's interfaces use.
pub struct SpinView<'a> {
    pub table: &'a mut ResourceTable,
    pub caps: &'a Arc<ComponentCaps>,
}

impl HasData for SpinHost {
    type Data<'a> = SpinView<'a>;
}

impl InstanceState {
    pub fn spin(&mut self) -> SpinView<'_> {
        SpinView {
            table: &mut self.table,
            caps: &self.caps,
        }
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut *self.hooks,
        }
    }
}
