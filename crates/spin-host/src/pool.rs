//! Instance reuse as Spin 4.1 does it for WASIp3 components: an instance
//! serves up to `max_requests` requests, at most `max_concurrent` at a
//! time, and is then dropped; a new one is made when every live instance is
//! full. A request that overruns the timeout gets a 500 and takes its
//! instance down with it, since the guest may still be spinning inside.

use anyhow::{Result, anyhow};
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use wasmtime::component::Accessor;
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi_http::p3::bindings::ServicePre;
use wasmtime_wasi_http::p3::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::p3::{Request, Response};

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

struct Job {
    request: GuestRequest,
    reply: oneshot::Sender<Result<http::Response<Bytes>>>,
}

struct Worker {
    tx: mpsc::UnboundedSender<Job>,
    accepted: usize,
    in_flight: Arc<AtomicUsize>,
}

/// The live instances of one component.
pub struct InstancePool {
    pre: ServicePre<InstanceState>,
    new_store: StoreFactory,
    limits: ReuseLimits,
    timeout: Duration,
    workers: Mutex<Vec<Worker>>,
    instances_created: AtomicUsize,
}

impl InstancePool {
    pub fn new(
        pre: ServicePre<InstanceState>,
        new_store: StoreFactory,
        limits: ReuseLimits,
        timeout: Duration,
    ) -> Self {
        Self {
            pre,
            new_store,
            limits: ReuseLimits {
                max_requests: limits.max_requests.max(1),
                max_concurrent: limits.max_concurrent.max(1),
                ..limits
            },
            timeout,
            workers: Mutex::new(Vec::new()),
            instances_created: AtomicUsize::new(0),
        }
    }

    /// How many instances this pool has made so far.
    pub fn instances_created(&self) -> usize {
        self.instances_created.load(Ordering::Relaxed)
    }

    /// Runs one request on an instance with room for it.
    pub async fn handle(self: &Arc<Self>, request: GuestRequest) -> Result<http::Response<Bytes>> {
        let (reply, answer) = oneshot::channel();
        self.dispatch(Job { request, reply });
        answer
            .await
            .map_err(|_| anyhow!("the instance was dropped before it answered"))?
    }

    fn dispatch(self: &Arc<Self>, mut job: Job) {
        let mut workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            workers.retain(|w| !w.tx.is_closed() && w.accepted < self.limits.max_requests);
            let free = workers
                .iter_mut()
                .find(|w| w.in_flight.load(Ordering::Acquire) < self.limits.max_concurrent);
            let worker = match free {
                Some(w) => w,
                None => {
                    workers.push(self.spawn_worker());
                    workers.last_mut().expect("just pushed")
                }
            };
            worker.accepted += 1;
            worker.in_flight.fetch_add(1, Ordering::AcqRel);
            match worker.tx.send(job) {
                Ok(()) => return,
                // The instance died between the check and the send: try another.
                Err(mpsc::error::SendError(returned)) => {
                    worker.in_flight.fetch_sub(1, Ordering::AcqRel);
                    job = returned;
                    worker.accepted = self.limits.max_requests;
                }
            }
        }
    }

    fn spawn_worker(self: &Arc<Self>) -> Worker {
        let (tx, rx) = mpsc::unbounded_channel();
        let in_flight = Arc::new(AtomicUsize::new(0));
        self.instances_created.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(run_instance(self.clone(), rx, in_flight.clone()));
        Worker {
            tx,
            accepted: 0,
            in_flight,
        }
    }
}

/// Why an instance stops taking requests early.
enum Poison {
    TimedOut,
    Trapped,
}

async fn run_instance(
    pool: Arc<InstancePool>,
    mut rx: mpsc::UnboundedReceiver<Job>,
    in_flight: Arc<AtomicUsize>,
) {
    let instance = async {
        let mut store = (pool.new_store)()?;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|ctx| {
            Ok(if ctx.data().interrupt.load(Ordering::Acquire) {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::Yield(1)
            })
        });
        let service = pool.pre.instantiate_async(&mut store).await?;
        let interrupt = store.data().interrupt.clone();
        anyhow::Ok((store, service, interrupt))
    }
    .await;
    let (mut store, service, interrupt) = match instance {
        Ok(ok) => ok,
        Err(e) => {
            rx.close();
            let message = format!("{e:#}");
            while let Some(job) = rx.recv().await {
                let _ = job
                    .reply
                    .send(Err(anyhow!("cannot instantiate: {message}")));
            }
            return;
        }
    };
    let served = AtomicUsize::new(0);
    let timeout = pool.timeout;
    let limit = pool.limits.max_requests;
    let idle = pool.limits.idle_timeout;
    let _ = store
        .run_concurrent(async |accessor| {
            let mut running = FuturesUnordered::new();
            let mut open = true;
            loop {
                tokio::select! {
                    job = rx.recv(), if open => match job {
                        Some(job) => {
                            if served.fetch_add(1, Ordering::Relaxed) + 1 >= limit {
                                rx.close();
                            }
                            running.push(serve(accessor, &service, job, timeout, &in_flight, &interrupt));
                        }
                        None => open = false,
                    },
                    Some(outcome) = running.next(), if !running.is_empty() => {
                        if let Err(poison) = outcome {
                            rx.close();
                            if matches!(poison, Poison::TimedOut) {
                                // The guest may never return: abandon the
                                // instance and everything still running in it.
                                return;
                            }
                        }
                    }
                    // Closing still lets `recv` drain what was already sent.
                    () = tokio::time::sleep(idle), if open && running.is_empty() => rx.close(),
                    else => return,
                }
            }
        })
        .await;
    // Requests queued after the instance was closed are answered with an
    // error rather than left hanging.
    while let Ok(job) = rx.try_recv() {
        let _ = job.reply.send(Err(anyhow!("the instance stopped")));
    }
}

async fn serve(
    accessor: &Accessor<InstanceState>,
    service: &wasmtime_wasi_http::p3::bindings::Service,
    job: Job,
    timeout: Duration,
    in_flight: &AtomicUsize,
    interrupt: &Arc<AtomicBool>,
) -> Result<(), Poison> {
    // A guest that never yields starves this event loop, so the deadline is
    // kept by a task outside it, and enforced at the guest's next epoch tick.
    let watchdog = {
        let interrupt = interrupt.clone();
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            interrupt.store(true, Ordering::Release);
        })
    };
    let outcome = call(accessor, service, job.request).await;
    watchdog.abort();
    in_flight.fetch_sub(1, Ordering::AcqRel);
    let (answer, poison) = match outcome {
        _ if interrupt.load(Ordering::Acquire) => (
            Err(anyhow!("the guest did not answer within {timeout:?}")),
            Some(Poison::TimedOut),
        ),
        Ok(response) => (Ok(response), None),
        Err(CallError::Guest(e)) => (Err(e), Some(Poison::Trapped)),
        Err(CallError::Answer(e)) => (Err(e), None),
    };
    let _ = job.reply.send(answer);
    poison.map_or(Ok(()), Err)
}

enum CallError {
    /// The guest trapped: its instance is no longer usable.
    Guest(anyhow::Error),
    /// The guest answered with an error or a broken body.
    Answer(anyhow::Error),
}

async fn call(
    accessor: &Accessor<InstanceState>,
    service: &wasmtime_wasi_http::p3::bindings::Service,
    request: GuestRequest,
) -> Result<http::Response<Bytes>, CallError> {
    let (request, request_io) = Request::from_http(request);
    let respond = async {
        let response: Response = service
            .handle(accessor, request)
            .await
            .map_err(|e| CallError::Guest(anyhow!("guest trapped: {e:?}")))?
            .map_err(|code| CallError::Answer(anyhow!("guest returned error code {code:?}")))?;
        let response = accessor
            .with(|store| response.into_http(store, async { Ok(()) }))
            .map_err(|e| CallError::Guest(anyhow!("invalid response: {e:?}")))?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|code| CallError::Answer(anyhow!("response body failed: {code:?}")))?
            .to_bytes();
        Ok(http::Response::from_parts(parts, body))
    };
    let (response, _) = futures::join!(respond, request_io);
    response
}
