//! `spin:postgres@4.2.0` for guests, as Spin 4.1 serves it.
//!
//! What guests can rely on, because Spin does it too:
//! - an address is checked against `allowed_outbound_hosts` (as
//!   `postgres://host:port`, 5432 when it names no port) before anything
//!   connects; a refusal is `connection-failed`;
//! - sessions are pooled per address and CA root with deadpool-postgres (64
//!   per address, `RecyclingMethod::Clean`), one set of pools per component
//!   shared by all its instances for the life of the app. Clean runs
//!   `CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; UNLISTEN *;
//!   SELECT pg_advisory_unlock_all(); DISCARD TEMP; DISCARD SEQUENCES` when a
//!   session is taken again, none of which ends a transaction: a `BEGIN` the
//!   guest never committed is still open in the next request that gets that
//!   session (unless it had failed, when recycling fails and the session is
//!   replaced);
//! - values convert as Spin's do, quirks included: `json`, `name` and other
//!   types without a WIT case come back `unsupported` with their binary
//!   form, and `timestamptz` columns fail the query (Spin reads them as a
//!   naive date-time, which the driver refuses);
//! - database errors carry their SQLSTATE and fields in `db-error`;
//! - TLS as Spin's: native-tls (OpenSSL here) for every `sslmode` but
//!   `disable` (so `prefer`, the default, tries TLS first), the server's
//!   certificate verified against the system's roots plus the CA root the
//!   guest set, which `set_ca_root` parses as Spin does.
//!
//! Where the host differs: a query's rows are read to the end (or
//! to the first error) before `query-async` returns, then handed to the
//! guest's stream; pools are neither capped at 16 addresses nor limited in
//! result size.

// The WIT error carries a whole database error, and goes to the guest as is.
#![allow(clippy::result_large_err)]

use crate::bindings::spin::postgres::postgres::{
    self as wit, Column, DbDataType, DbError, DbValue, Error, ParameterValue, QueryError,
    RangeBoundKind, RowSet,
};
use crate::outbound::{default_port, permits};
use crate::state::{ComponentCaps, SpinHost, SpinView};
use anyhow::Context;
use bytes::{Buf, BufMut, BytesMut};
use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use futures::TryStreamExt;
use postgres_range::{BoundSided, BoundType, Range, RangeBound};
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use wasmtime::component::{Access, Accessor, FutureReader, Resource, StreamReader};

/// Sessions in one address's pool, as in Spin.
const POOL_SIZE: usize = 64;

type BoxError = Box<dyn std::error::Error + Sync + Send>;

/// One component's pools, keyed by address and CA root as Spin keys them.
#[derive(Default)]
pub struct PgPools {
    pools: Mutex<HashMap<(String, Option<String>), deadpool_postgres::Pool>>,
}

impl PgPools {
    fn pool(
        &self,
        address: &str,
        ca_root: Option<String>,
    ) -> anyhow::Result<deadpool_postgres::Pool> {
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        let key = (address.to_string(), ca_root);
        if let Some(pool) = pools.get(&key) {
            return Ok(pool.clone());
        }
        let config: tokio_postgres::Config = address
            .parse()
            .context("parsing Postgres connection string")?;
        let recycling = deadpool_postgres::ManagerConfig {
            recycling_method: deadpool_postgres::RecyclingMethod::Clean,
        };
        let manager = if config.get_ssl_mode() == SslMode::Disable {
            deadpool_postgres::Manager::from_config(config, tokio_postgres::NoTls, recycling)
        } else {
            let mut tls = native_tls::TlsConnector::builder();
            if let Some(pem) = &key.1 {
                tls.add_root_certificate(root_certificate(pem)?);
            }
            let tls = postgres_native_tls::MakeTlsConnector::new(tls.build()?);
            deadpool_postgres::Manager::from_config(config, tls, recycling)
        };
        let pool = deadpool_postgres::Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .context("building Postgres connection pool")?;
        pools.insert(key, pool.clone());
        Ok(pool)
    }

    /// Leaves every idle session for `address` (or a new one, if none is
    /// idle) inside an open transaction that ran `statement`, as a guest
    /// that trapped between `BEGIN` and `COMMIT` leaves its session under
    /// Spin 4.1; says how many.
    pub async fn leave_transactions_open(
        &self,
        address: &str,
        statement: &str,
    ) -> anyhow::Result<usize> {
        let pool = self.pool(address, None)?;
        let mut sessions = Vec::new();
        for _ in 0..pool.status().available.max(1) {
            let session = pool.get().await?;
            session
                .batch_execute(&format!("BEGIN; {statement}"))
                .await?;
            sessions.push(session);
        }
        Ok(sessions.len())
    }

    /// A session for `address`: an idle one recycled, or a new one.
    async fn session(
        &self,
        address: &str,
        ca_root: Option<String>,
    ) -> anyhow::Result<deadpool_postgres::Object> {
        Ok(self.pool(address, ca_root)?.get().await?)
    }
}

/// A CA root as `set_ca_root` is given it: one PEM certificate.
fn root_certificate(pem: &str) -> Result<native_tls::Certificate, native_tls::Error> {
    native_tls::Certificate::from_pem(pem.as_bytes())
}

/// An open connection, as the guest's `connection` resource: a pooled
/// session, back in its pool when the guest drops it and no statement of
/// its is still running.
#[derive(Clone)]
pub struct PgConnection(Arc<deadpool_postgres::Object>);

/// The guest's `connection-builder`: an address and, maybe, a CA root.
pub struct PgConnectionBuilder {
    address: String,
    ca_root: Option<String>,
}

/// Spin's check of an address, host by host, before anything connects.
fn check_address(caps: &ComponentCaps, address: &str) -> Result<(), Error> {
    let config: tokio_postgres::Config = address
        .parse()
        .map_err(|e: tokio_postgres::Error| Error::ConnectionFailed(e.to_string()))?;
    let ports = config.get_ports();
    for (i, host) in config.get_hosts().iter().enumerate() {
        let Host::Tcp(host) = host else {
            return Err(Error::ConnectionFailed(
                "Unix sockets are not supported on WebAssembly".into(),
            ));
        };
        // Each host takes the port at its index, or the only port given.
        let port = ports.get(i).or(if ports.len() == 1 {
            ports.first()
        } else {
            None
        });
        let authority = port.map_or_else(|| host.clone(), |p| format!("{host}:{p}"));
        let port = port
            .copied()
            .or(default_port("postgres"))
            .expect("postgres has a default port");
        if !permits(&caps.allowed_hosts, &caps.id, "postgres", host, port) {
            return Err(Error::ConnectionFailed(format!(
                "address postgres://{authority} is not permitted"
            )));
        }
    }
    Ok(())
}

async fn connect(
    caps: &ComponentCaps,
    address: &str,
    ca_root: Option<String>,
) -> Result<PgConnection, Error> {
    check_address(caps, address)?;
    let session = caps
        .postgres
        .session(address, ca_root)
        .await
        .map_err(|e| Error::ConnectionFailed(format!("{e:?}")))?;
    Ok(PgConnection(Arc::new(session)))
}

fn query_failed(e: tokio_postgres::Error) -> Error {
    let as_text = format!("{e:?}");
    let Some(db) = e.as_db_error() else {
        return Error::QueryFailed(QueryError::Text(as_text));
    };
    let optional = [
        ("column", db.column().map(str::to_string)),
        ("constraint", db.constraint().map(str::to_string)),
        ("routine", db.routine().map(str::to_string)),
        ("hint", db.hint().map(str::to_string)),
        ("table", db.table().map(str::to_string)),
        ("datatype", db.datatype().map(str::to_string)),
        ("schema", db.schema().map(str::to_string)),
        ("file", db.file().map(str::to_string)),
        ("line", db.line().map(|l| l.to_string())),
        ("where_", db.where_().map(str::to_string)),
    ];
    Error::QueryFailed(QueryError::DbError(DbError {
        as_text,
        severity: db.severity().to_string(),
        code: db.code().code().to_string(),
        message: db.message().to_string(),
        detail: db.detail().map(str::to_string),
        extras: optional
            .into_iter()
            .filter_map(|(name, value)| Some((name.to_string(), value?)))
            .collect(),
    }))
}

/// A query's answer: its columns (those of its first row, so none when no
/// row came, as in Spin), the rows read, and how reading ended.
struct Answer {
    columns: Vec<Column>,
    rows: Vec<Vec<DbValue>>,
    end: Result<(), Error>,
}

/// The guest's parameters for the driver; the first that does not convert
/// fails them all, as the error `kind` says.
fn sql_params(
    params: Vec<ParameterValue>,
    kind: fn(String) -> Error,
) -> Result<Vec<Box<dyn ToSql + Send + Sync>>, Error> {
    params
        .into_iter()
        .map(to_sql)
        .collect::<anyhow::Result<_>>()
        .map_err(|e| kind(format!("{e:?}")))
}

async fn query(
    conn: &PgConnection,
    statement: &str,
    params: Vec<ParameterValue>,
) -> Result<Answer, Error> {
    let params = sql_params(params, Error::BadParameter)?;
    let stream = conn
        .0
        .query_raw(statement, params)
        .await
        .map_err(query_failed)?;
    futures::pin_mut!(stream);
    let mut columns = None;
    let mut rows = Vec::new();
    let end = loop {
        match stream.try_next().await {
            Ok(Some(row)) => {
                columns.get_or_insert_with(|| {
                    row.columns()
                        .iter()
                        .map(|c| Column {
                            name: c.name().to_string(),
                            data_type: data_type(c.type_()),
                        })
                        .collect()
                });
                match (0..row.len()).map(|i| value(&row, i)).collect() {
                    Ok(values) => rows.push(values),
                    Err(e) => break Err(Error::QueryFailed(QueryError::Text(format!("{e:?}")))),
                }
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(query_failed(e)),
        }
    };
    Ok(Answer {
        columns: columns.unwrap_or_default(),
        rows,
        end,
    })
}

async fn execute(
    conn: &PgConnection,
    statement: &str,
    params: Vec<ParameterValue>,
) -> Result<u64, Error> {
    // Spin reports a bad parameter here as a failed conversion, unlike in
    // `query`.
    let params = sql_params(params, Error::ValueConversionFailed)?;
    let refs: Vec<&(dyn ToSql + Sync)> = params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect();
    conn.0.execute(statement, &refs).await.map_err(query_failed)
}

fn data_type(ty: &Type) -> DbDataType {
    match *ty {
        Type::BOOL => DbDataType::Boolean,
        Type::BYTEA => DbDataType::Binary,
        Type::FLOAT4 => DbDataType::Floating32,
        Type::FLOAT8 => DbDataType::Floating64,
        Type::INT2 => DbDataType::Int16,
        Type::INT4 => DbDataType::Int32,
        Type::INT8 => DbDataType::Int64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR => DbDataType::Str,
        Type::TIMESTAMP | Type::TIMESTAMPTZ => DbDataType::Datetime,
        Type::DATE => DbDataType::Date,
        Type::TIME => DbDataType::Time,
        Type::UUID => DbDataType::Uuid,
        Type::JSONB => DbDataType::Jsonb,
        Type::NUMERIC => DbDataType::Decimal,
        Type::INT4_RANGE => DbDataType::RangeInt32,
        Type::INT8_RANGE => DbDataType::RangeInt64,
        Type::NUM_RANGE => DbDataType::RangeDecimal,
        Type::INT4_ARRAY => DbDataType::ArrayInt32,
        Type::INT8_ARRAY => DbDataType::ArrayInt64,
        Type::NUMERIC_ARRAY => DbDataType::ArrayDecimal,
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => DbDataType::ArrayStr,
        Type::INTERVAL => DbDataType::Interval,
        _ => DbDataType::Other(ty.name().to_string()),
    }
}

/// Column `i` of `row` read as `T`, converted by `f`; SQL NULL is `db-null`.
fn read<'a, T: FromSql<'a>>(
    row: &'a tokio_postgres::Row,
    i: usize,
    f: impl FnOnce(T) -> DbValue,
) -> anyhow::Result<DbValue> {
    Ok(row.try_get::<_, Option<T>>(i)?.map_or(DbValue::DbNull, f))
}

fn value(row: &tokio_postgres::Row, i: usize) -> anyhow::Result<DbValue> {
    match *row.columns()[i].type_() {
        Type::BOOL => read(row, i, DbValue::Boolean),
        Type::BYTEA => read(row, i, DbValue::Binary),
        Type::FLOAT4 => read(row, i, DbValue::Floating32),
        Type::FLOAT8 => read(row, i, DbValue::Floating64),
        Type::INT2 => read(row, i, DbValue::Int16),
        Type::INT4 => read(row, i, DbValue::Int32),
        Type::INT8 => read(row, i, DbValue::Int64),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR => read(row, i, DbValue::Str),
        // Both as a naive date-time, which the driver refuses for
        // `timestamptz`: the same failure guests get under Spin.
        Type::TIMESTAMP | Type::TIMESTAMPTZ => read(row, i, |v: NaiveDateTime| {
            let (date, time) = (v.date(), v.time());
            DbValue::Datetime((
                date.year(),
                date.month() as u8,
                date.day() as u8,
                time.hour() as u8,
                time.minute() as u8,
                time.second() as u8,
                time.nanosecond(),
            ))
        }),
        Type::DATE => read(row, i, |v: NaiveDate| {
            DbValue::Date((v.year(), v.month() as u8, v.day() as u8))
        }),
        Type::TIME => read(row, i, |v: NaiveTime| {
            DbValue::Time((
                v.hour() as u8,
                v.minute() as u8,
                v.second() as u8,
                v.nanosecond(),
            ))
        }),
        Type::UUID => read(row, i, |v: uuid::Uuid| DbValue::Uuid(v.to_string())),
        Type::JSONB => read(row, i, |v: serde_json::Value| {
            DbValue::Jsonb(v.to_string().into_bytes())
        }),
        Type::NUMERIC => read(row, i, |v: Decimal| DbValue::Decimal(v.to_string())),
        Type::INT4_RANGE => read(row, i, |v: Range<i32>| {
            DbValue::RangeInt32(range_to_wit(&v, |n| *n))
        }),
        Type::INT8_RANGE => read(row, i, |v: Range<i64>| {
            DbValue::RangeInt64(range_to_wit(&v, |n| *n))
        }),
        Type::NUM_RANGE => read(row, i, |v: Range<RangeDecimal>| {
            DbValue::RangeDecimal(range_to_wit(&v, |d| d.0.to_string()))
        }),
        Type::INT4_ARRAY => read(row, i, DbValue::ArrayInt32),
        Type::INT8_ARRAY => read(row, i, DbValue::ArrayInt64),
        Type::NUMERIC_ARRAY => read(row, i, |v: Vec<Option<Decimal>>| {
            DbValue::ArrayDecimal(v.into_iter().map(|d| d.map(|d| d.to_string())).collect())
        }),
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => {
            read(row, i, DbValue::ArrayStr)
        }
        Type::INTERVAL => read(row, i, |v: Interval| DbValue::Interval(v.0)),
        _ => read(row, i, |v: Raw| DbValue::Unsupported(v.0)),
    }
}

type WitRange<T> = (Option<(T, RangeBoundKind)>, Option<(T, RangeBoundKind)>);

fn range_to_wit<T: PartialOrd + postgres_range::Normalizable, W>(
    range: &Range<T>,
    f: impl Fn(&T) -> W,
) -> WitRange<W> {
    fn bound<S: BoundSided, T, W>(
        b: &RangeBound<S, T>,
        f: &impl Fn(&T) -> W,
    ) -> (W, RangeBoundKind) {
        let kind = match b.type_ {
            BoundType::Inclusive => RangeBoundKind::Inclusive,
            BoundType::Exclusive => RangeBoundKind::Exclusive,
        };
        (f(&b.value), kind)
    }
    (
        range.lower().map(|b| bound(b, &f)),
        range.upper().map(|b| bound(b, &f)),
    )
}

fn range_from_wit<T: PartialOrd + postgres_range::Normalizable, W>(
    (lower, upper): WitRange<W>,
    f: impl Fn(W) -> anyhow::Result<T>,
) -> anyhow::Result<Range<T>> {
    fn bound<S: BoundSided, T: PartialOrd, W>(
        (value, kind): (W, RangeBoundKind),
        f: &impl Fn(W) -> anyhow::Result<T>,
    ) -> anyhow::Result<RangeBound<S, T>> {
        let kind = match kind {
            RangeBoundKind::Inclusive => BoundType::Inclusive,
            RangeBoundKind::Exclusive => BoundType::Exclusive,
        };
        Ok(RangeBound::new(f(value)?, kind))
    }
    Ok(Range::new(
        lower.map(|b| bound(b, &f)).transpose()?,
        upper.map(|b| bound(b, &f)).transpose()?,
    ))
}

fn decimal(text: &str) -> anyhow::Result<Decimal> {
    Decimal::from_str_exact(text).with_context(|| format!("{text:?} is not a decimal"))
}

fn to_sql(param: ParameterValue) -> anyhow::Result<Box<dyn ToSql + Send + Sync>> {
    use ParameterValue as P;
    Ok(match param {
        P::Boolean(v) => Box::new(v),
        P::Int8(v) => Box::new(v),
        P::Int16(v) => Box::new(v),
        P::Int32(v) => Box::new(v),
        P::Int64(v) => Box::new(v),
        P::Floating32(v) => Box::new(v),
        P::Floating64(v) => Box::new(v),
        P::Str(v) => Box::new(v),
        P::Binary(v) => Box::new(v),
        P::Date((y, m, d)) => Box::new(date(y, m, d)?),
        P::Time((h, m, s, ns)) => Box::new(time(h, m, s, ns)?),
        P::Datetime((y, mo, d, h, mi, s, ns)) => {
            Box::new(NaiveDateTime::new(date(y, mo, d)?, time(h, mi, s, ns)?))
        }
        P::Timestamp(secs) => Box::new(
            chrono::DateTime::from_timestamp(secs, 0)
                .with_context(|| format!("{secs} is out of range for a timestamp"))?,
        ),
        P::Uuid(v) => {
            Box::new(uuid::Uuid::parse_str(&v).with_context(|| format!("{v:?} is not a UUID"))?)
        }
        P::Jsonb(v) => Box::new(
            serde_json::from_slice::<serde_json::Value>(&v)
                .with_context(|| format!("not JSON: {}", String::from_utf8_lossy(&v)))?,
        ),
        P::Decimal(v) => Box::new(decimal(&v)?),
        P::RangeInt32(r) => Box::new(range_from_wit(r, Ok)?),
        P::RangeInt64(r) => Box::new(range_from_wit(r, Ok)?),
        P::RangeDecimal(r) => Box::new(range_from_wit(r, |d: String| {
            decimal(&d).map(RangeDecimal)
        })?),
        P::ArrayInt32(v) => Box::new(v),
        P::ArrayInt64(v) => Box::new(v),
        P::ArrayDecimal(v) => Box::new(
            v.iter()
                .map(|d| d.as_deref().map(decimal).transpose())
                .collect::<anyhow::Result<Vec<_>>>()?,
        ),
        P::ArrayStr(v) => Box::new(v),
        P::Interval(v) => Box::new(Interval(v)),
        P::DbNull => Box::new(Null),
    })
}

fn date(y: i32, m: u8, d: u8) -> anyhow::Result<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m.into(), d.into())
        .with_context(|| format!("{y}-{m}-{d} is not a date"))
}

fn time(h: u8, m: u8, s: u8, ns: u32) -> anyhow::Result<NaiveTime> {
    NaiveTime::from_hms_nano_opt(h.into(), m.into(), s.into(), ns)
        .with_context(|| format!("{h}:{m}:{s}.{ns:09} is not a time"))
}

/// SQL NULL for a parameter of any type: `Option::<T>::None` would be
/// refused where the column's type is not `T`'s.
#[derive(Debug)]
struct Null;

impl ToSql for Null {
    fn to_sql(&self, _: &Type, _: &mut BytesMut) -> Result<IsNull, BoxError> {
        Ok(IsNull::Yes)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A value of a type with no WIT case, in its binary wire form.
struct Raw(Vec<u8>);

impl FromSql<'_> for Raw {
    fn from_sql(_: &Type, raw: &[u8]) -> Result<Self, BoxError> {
        Ok(Self(raw.to_vec()))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// `interval` on the wire: microseconds, days, months.
#[derive(Debug)]
struct Interval(wit::Interval);

impl ToSql for Interval {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.put_i64(self.0.micros);
        out.put_i32(self.0.days);
        out.put_i32(self.0.months);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }

    to_sql_checked!();
}

impl FromSql<'_> for Interval {
    fn from_sql(_: &Type, mut raw: &[u8]) -> Result<Self, BoxError> {
        if raw.len() != 16 {
            return Err("an interval is 16 bytes on the wire".into());
        }
        Ok(Self(wit::Interval {
            micros: raw.get_i64(),
            days: raw.get_i32(),
            months: raw.get_i32(),
        }))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
}

/// A decimal that can bound a `numrange` (which the range crate only
/// accepts for types it can normalize: decimals need none).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
struct RangeDecimal(Decimal);

impl postgres_range::Normalizable for RangeDecimal {
    fn normalize<S: BoundSided>(bound: RangeBound<S, Self>) -> RangeBound<S, Self> {
        bound
    }
}

impl ToSql for RangeDecimal {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        self.0.to_sql(ty, out)
    }

    fn accepts(ty: &Type) -> bool {
        <Decimal as ToSql>::accepts(ty)
    }

    to_sql_checked!();
}

impl FromSql<'_> for RangeDecimal {
    fn from_sql(ty: &Type, raw: &[u8]) -> Result<Self, BoxError> {
        Decimal::from_sql(ty, raw).map(Self)
    }

    fn accepts(ty: &Type) -> bool {
        <Decimal as FromSql>::accepts(ty)
    }
}

fn caps<T>(accessor: &Accessor<T, SpinHost>) -> Arc<ComponentCaps> {
    accessor.with(|mut access| access.get().caps.clone())
}

fn connection<T>(
    accessor: &Accessor<T, SpinHost>,
    conn: &Resource<PgConnection>,
) -> wasmtime::Result<PgConnection> {
    accessor.with(|mut access| Ok(access.get().table.get(conn)?.clone()))
}

/// Opens in the store behind `accessor`, without holding it meanwhile.
async fn open_with<T>(
    accessor: &Accessor<T, SpinHost>,
    address: &str,
    ca_root: Option<String>,
) -> wasmtime::Result<Result<Resource<PgConnection>, Error>> {
    let caps = caps(accessor);
    match connect(&caps, address, ca_root).await {
        Ok(conn) => accessor.with(|mut access| Ok(Ok(access.get().table.push(conn)?))),
        Err(e) => Ok(Err(e)),
    }
}

/// Opens from a blocking call, in the store it has.
async fn open_in(
    view: &mut SpinView<'_>,
    address: &str,
    ca_root: Option<String>,
) -> wasmtime::Result<Result<Resource<PgConnection>, Error>> {
    match connect(view.caps, address, ca_root).await {
        Ok(conn) => Ok(Ok(view.table.push(conn)?)),
        Err(e) => Ok(Err(e)),
    }
}

impl<T> wit::HostConnectionWithStore<T> for SpinHost {
    async fn open_async(
        accessor: &Accessor<T, Self>,
        address: String,
    ) -> wasmtime::Result<Result<Resource<PgConnection>, Error>> {
        open_with(accessor, &address, None).await
    }

    async fn query_async(
        accessor: &Accessor<T, Self>,
        conn: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<
        Result<
            (
                Vec<Column>,
                StreamReader<Vec<DbValue>>,
                FutureReader<Result<(), Error>>,
            ),
            Error,
        >,
    > {
        let conn = connection(accessor, &conn)?;
        let Answer { columns, rows, end } = match query(&conn, &statement, params).await {
            Ok(answer) => answer,
            Err(e) => return Ok(Err(e)),
        };
        accessor.with(|mut access| {
            Ok(Ok((
                columns,
                StreamReader::new(&mut access, rows)?,
                FutureReader::new(&mut access, async { wasmtime::error::Ok(end) })?,
            )))
        })
    }

    async fn execute_async(
        accessor: &Accessor<T, Self>,
        conn: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<u64, Error>> {
        let conn = connection(accessor, &conn)?;
        Ok(execute(&conn, &statement, params).await)
    }

    fn drop(mut access: Access<'_, T, Self>, conn: Resource<PgConnection>) -> wasmtime::Result<()> {
        access.get().table.delete(conn)?;
        Ok(())
    }
}

impl wit::HostConnection for SpinView<'_> {
    async fn open(
        &mut self,
        address: String,
    ) -> wasmtime::Result<Result<Resource<PgConnection>, Error>> {
        open_in(self, &address, None).await
    }

    async fn query(
        &mut self,
        conn: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<RowSet, Error>> {
        let conn = self.table.get(&conn)?.clone();
        Ok(query(&conn, &statement, params).await.and_then(|answer| {
            // Spin's blocking form reports an error met while reading rows
            // as text.
            answer
                .end
                .map_err(|e| Error::QueryFailed(QueryError::Text(format!("{e:?}"))))?;
            Ok(RowSet {
                columns: answer.columns,
                rows: answer.rows,
            })
        }))
    }

    async fn execute(
        &mut self,
        conn: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<u64, Error>> {
        let conn = self.table.get(&conn)?.clone();
        Ok(execute(&conn, &statement, params).await)
    }
}

impl<T> wit::HostConnectionBuilderWithStore<T> for SpinHost {
    async fn build_async(
        accessor: &Accessor<T, Self>,
        builder: Resource<PgConnectionBuilder>,
    ) -> wasmtime::Result<Result<Resource<PgConnection>, Error>> {
        let (address, ca_root) = accessor.with(|mut access| {
            let builder = access.get().table.get(&builder)?;
            wasmtime::error::Ok((builder.address.clone(), builder.ca_root.clone()))
        })?;
        open_with(accessor, &address, ca_root).await
    }

    fn drop(
        mut access: Access<'_, T, Self>,
        builder: Resource<PgConnectionBuilder>,
    ) -> wasmtime::Result<()> {
        access.get().table.delete(builder)?;
        Ok(())
    }
}

impl wit::HostConnectionBuilder for SpinView<'_> {
    fn new(&mut self, address: String) -> wasmtime::Result<Resource<PgConnectionBuilder>> {
        Ok(self.table.push(PgConnectionBuilder {
            address,
            ca_root: None,
        })?)
    }

    fn set_ca_root(
        &mut self,
        builder: Resource<PgConnectionBuilder>,
        certificate: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        if let Err(e) = root_certificate(&certificate) {
            return Ok(Err(Error::Other(format!("invalid root certificate: {e}"))));
        }
        self.table.get_mut(&builder)?.ca_root = Some(certificate);
        Ok(Ok(()))
    }

    async fn build(
        &mut self,
        builder: Resource<PgConnectionBuilder>,
    ) -> wasmtime::Result<Result<Resource<PgConnection>, Error>> {
        // Spin 4.1's blocking `build` skips the allowed-hosts check; the
        // host checks anyway (no SDK calls it).
        let builder = self.table.get(&builder)?;
        let (address, ca_root) = (builder.address.clone(), builder.ca_root.clone());
        open_in(self, &address, ca_root).await
    }
}

impl wit::Host for SpinView<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::AllowedHost;

    fn caps(allowed: &[&str]) -> ComponentCaps {
        ComponentCaps {
            id: "probe".into(),
            kv: HashMap::new(),
            kv_defined: Default::default(),
            sqlite: HashMap::new(),
            sqlite_defined: Default::default(),
            variables: HashMap::new(),
            allowed_hosts: allowed
                .iter()
                .map(|a| AllowedHost::parse(a).unwrap())
                .collect(),
            postgres: PgPools::default(),
        }
    }

    fn refused(result: Result<(), Error>) -> String {
        match result {
            Err(Error::ConnectionFailed(message)) => message,
            other => panic!("expected connection-failed, got {other:?}"),
        }
    }

    #[test]
    fn addresses_are_checked_as_urls_and_key_value_strings() {
        let local = caps(&["postgres://127.0.0.1:5433"]);
        assert!(check_address(&local, "postgres://u:pw@127.0.0.1:5433/db?sslmode=disable").is_ok());
        assert!(check_address(&local, "host=127.0.0.1 port=5433 user=u dbname=db").is_ok());
        assert_eq!(
            refused(check_address(&local, "postgres://u@127.0.0.1:5432/db")),
            "address postgres://127.0.0.1:5432 is not permitted"
        );
        assert_eq!(
            refused(check_address(&local, "host=db.example.com user=u")),
            "address postgres://db.example.com is not permitted"
        );
        // No port means 5432, on both sides.
        let default = caps(&["postgres://db.example.com"]);
        assert!(check_address(&default, "host=db.example.com user=u").is_ok());
        // Every host of a multi-host address must be allowed.
        assert!(
            check_address(&local, "postgres://u@127.0.0.1:5433,db.example.com:5433/db").is_err()
        );
        assert_eq!(
            refused(check_address(&local, "host=/run/postgresql user=u")),
            "Unix sockets are not supported on WebAssembly"
        );
        assert!(!refused(check_address(&local, "postgres://[oops")).is_empty());
    }

    #[test]
    fn a_ca_root_that_is_no_certificate_is_refused() {
        let mut table = wasmtime::component::ResourceTable::new();
        let caps = Arc::new(caps(&[]));
        let mut view = SpinView {
            table: &mut table,
            caps: &caps,
        };
        let builder = wit::HostConnectionBuilder::new(&mut view, "postgres://db".into()).unwrap();
        let set = wit::HostConnectionBuilder::set_ca_root(
            &mut view,
            builder,
            "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n".into(),
        )
        .unwrap();
        match set {
            Err(Error::Other(message)) => {
                assert!(message.starts_with("invalid root certificate"), "{message}")
            }
            other => panic!("expected an invalid root certificate, got {other:?}"),
        }
    }

    #[test]
    fn null_binds_to_any_type_and_unsupported_types_keep_their_bytes() {
        assert!(<Null as ToSql>::accepts(&Type::UUID));
        assert!(<Raw as FromSql>::accepts(&Type::JSON));
        assert!(matches!(data_type(&Type::JSON), DbDataType::Other(n) if n == "json"));
        assert!(matches!(data_type(&Type::NAME), DbDataType::Other(n) if n == "name"));
    }

    #[test]
    fn parameters_that_do_not_parse_are_refused() {
        for bad in [
            ParameterValue::Decimal("1.2.3".into()),
            ParameterValue::Uuid("nope".into()),
            ParameterValue::Jsonb(b"{".to_vec()),
            ParameterValue::Date((2027, 2, 30)),
        ] {
            assert!(to_sql(bad).is_err());
        }
        let range = range_from_wit(
            (
                Some((1, RangeBoundKind::Inclusive)),
                Some((5, RangeBoundKind::Inclusive)),
            ),
            Ok::<i32, anyhow::Error>,
        )
        .unwrap();
        // Postgres's canonical form of an integer range is [lower, upper).
        assert_eq!(
            range_to_wit(&range, |n| *n),
            (
                Some((1, RangeBoundKind::Inclusive)),
                Some((6, RangeBoundKind::Exclusive))
            )
        );
    }
}
