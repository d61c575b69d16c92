//! Instance handling as Spin 4.1 does it for WASIp3 components. Requests go
//! through wasmtime-wasi-http's `ProxyHandler`, the dispatcher Spin's HTTP
//! trigger uses, with Spin's policy plugged in: an instance takes up to
//! `max_requests` requests, at most `max_concurrent` at a time; it is kept
//! while any guest task runs, including work spawned after the response, so
//! that work finishes even with a fresh instance per request; an idle
//! instance is dropped after `idle_timeout`. A request without a response
//! after the request timeout gets a 500 and its instance takes no more work;
//! an instance still busy a request timeout after that, or one that traps,
//! is dropped with whatever it was running. As under Spin, a request that
//! finds no instance with room starts one, so a burst at a cold component
//! gets an instance per request.

use anyhow::{Result, anyhow};
use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use wasmtime::component::GuestTaskId;
use wasmtime::{Store, StoreContextMut, UpdateDeadline};
use wasmtime_wasi_http::handler::{
    self, ExpirationError, HandlerState, Proxy, ProxyHandler, ShouldAccept, TrapOrPanicError,
    ViewFn, WorkerExpiration, WorkerState, WorkerStatus,
};
use wasmtime_wasi_http::p3::WasiHttpView;
use wasmtime_wasi_http::p3::bindings::ServicePre;
use wasmtime_wasi_http::p3::bindings::http::types::ErrorCode;

use crate::state::InstanceState;

pub type GuestRequest = http::Request<UnsyncBoxBody<Bytes, ErrorCode>>;

/// Instance reuse limits, Spin 4.1's defaults unless set. `1`/`1` gives a
/// fresh instance per request.
#[derive(Debug, Clone, Copy)]
pub struct ReuseLimits {
    pub max_requests: usize,
    pub max_concurrent: usize,
    /// An instance with nothing to do for this long is dropped.
    pub idle_timeout: Duration,
}

impl Default for ReuseLimits {
    fn default() -> Self {
        Self {
            max_requests: 128,
            max_concurrent: 16,
            idle_timeout: Duration::from_secs(1),
        }
    }
}

/// Makes the store for a new instance.
pub type StoreFactory = Arc<dyn Fn() -> Result<Store<InstanceState>> + Send + Sync>;

/// The live instances of one component.
pub struct InstancePool {
    handler: ProxyHandler<Instances>,
}

impl InstancePool {
    pub fn new(
        pre: ServicePre<InstanceState>,
        new_store: StoreFactory,
        limits: ReuseLimits,
        timeout: Duration,
    ) -> Self {
        Self {
            handler: ProxyHandler::new(Instances {
                pre,
                new_store,
                limits: ReuseLimits {
                    max_requests: limits.max_requests.max(1),
                    max_concurrent: limits.max_concurrent.max(1),
                    ..limits
                },
                timeout,
                created: AtomicUsize::new(0),
            }),
        }
    }

    /// How many instances this pool has made so far.
    pub fn instances_created(&self) -> usize {
        self.handler.state().created.load(Ordering::Relaxed)
    }

    /// Runs one request on an instance with room for it, or a new one.
    pub async fn handle(&self, request: GuestRequest) -> Result<http::Response<Bytes>> {
        let request = request.map(|body| body.map_err(handler::ErrorCode::P3).boxed_unsync());
        let response = self
            .handler
            .handle((), request)
            .await
            .map_err(|e| self.explain(e))?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| anyhow!("response body failed: {e:?}"))?
            .to_bytes();
        Ok(http::Response::from_parts(parts, body))
    }

    fn explain(&self, error: wasmtime::Error) -> anyhow::Error {
        if error.is::<ExpirationError>() {
            let timeout = self.handler.state().timeout;
            anyhow!("the guest did not answer within {timeout:?}")
        } else if error.is::<TrapOrPanicError>() {
            anyhow!("the instance trapped or was stopped before it answered")
        } else {
            anyhow::Error::from(error).context("the guest failed")
        }
    }
}

/// What every instance of the component is made from, and Spin's policy for
/// them.
struct Instances {
    pre: ServicePre<InstanceState>,
    new_store: StoreFactory,
    limits: ReuseLimits,
    timeout: Duration,
    created: AtomicUsize,
}

impl HandlerState for Instances {
    type StoreData = InstanceState;
    type WorkerExpiration = Expiry;
    type WorkerState = Limits;

    async fn instantiate(
        &self,
    ) -> wasmtime::Result<handler::Instance<InstanceState, Expiry, Limits>> {
        let mut store = (self.new_store)().map_err(wasmtime::Error::from_anyhow)?;
        // Spin never interrupts a guest (its epoch deadline is practically
        // infinite). The host yields at each epoch tick instead, so a guest
        // that never awaits cannot starve the test's runtime and its
        // instance can still be timed out from outside.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|_| Ok(UpdateDeadline::Yield(1)));
        let service = self.pre.instantiate_async(&mut store).await?;
        self.created.fetch_add(1, Ordering::Relaxed);
        Ok(handler::Instance {
            store,
            proxy: Proxy::P3(service),
            view: ViewFn::P3(<InstanceState as WasiHttpView>::http),
            expiration: Expiry {
                idle: self.limits.idle_timeout,
                busy: self.timeout,
                timer: Box::pin(tokio::time::sleep(Duration::MAX)),
            },
            state: Limits {
                max_requests: self.limits.max_requests,
                max_concurrent: self.limits.max_concurrent,
                timeout: self.timeout,
            },
        })
    }
}

/// When an instance is dropped: after `idle` with nothing to do, or `busy`
/// after its latest request started (or after its last response, while
/// work spawned by the guest goes on). Polled outside the instance's event
/// loop, so it holds even while a guest computes without yielding.
struct Expiry {
    idle: Duration,
    busy: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl WorkerExpiration for Expiry {
    fn poll(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        status: WorkerStatus,
        since: Instant,
    ) -> Poll<()> {
        let this = self.get_mut();
        let limit = match status {
            WorkerStatus::Idle => this.idle,
            WorkerStatus::Requests | WorkerStatus::PostReturn => this.busy,
        };
        let Some(deadline) = since.checked_add(limit) else {
            return Poll::Pending;
        };
        let deadline = tokio::time::Instant::from_std(deadline);
        if this.timer.deadline() != deadline {
            this.timer.as_mut().reset(deadline);
        }
        this.timer.as_mut().poll(cx)
    }
}

/// One instance's share of the reuse limits.
struct Limits {
    max_requests: usize,
    max_concurrent: usize,
    timeout: Duration,
}

impl WorkerState for Limits {
    type StoreData = InstanceState;
    type RequestId = ();

    fn should_accept_request(&self, running: usize, served: usize) -> ShouldAccept {
        if served >= self.max_requests {
            ShouldAccept::Never
        } else if running >= self.max_concurrent {
            ShouldAccept::No
        } else {
            ShouldAccept::Yes
        }
    }

    fn on_request_start(
        &self,
        _: StoreContextMut<'_, InstanceState>,
        _: (),
        _: GuestTaskId,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + Sync>> {
        Box::pin(tokio::time::sleep(self.timeout))
    }

    fn drop(&self, store: Store<InstanceState>, result: wasmtime::Result<()>) {
        // As Spin reports it; but not for a worker dropped unfinished, which
        // here is every live instance when a test's runtime shuts down (a
        // real panic has already printed its own message).
        match result {
            Err(error) if error.to_string() != "worker panicked" => {
                eprintln!("worker failed: {error:?}");
            }
            _ => {}
        }
        drop(store);
    }
}
