//! Serves an app over HTTP/1.1 on a TCP listener, as `spin up` does, for
//! browser tests, benchmarks and topologies of several apps.

use crate::App;
use anyhow::Result;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use wasmtime_wasi_http::p3::bindings::http::types::ErrorCode;

/// An app listening on a socket; dropping it stops the listener and ends
/// every connection, as stopping `spin up` does.
pub struct Server {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Server {
    pub async fn bind(app: App, addr: SocketAddr) -> Result<Self> {
        Self::listen(app, TcpListener::bind(addr).await?)
    }

    /// Serves `app` on a socket bound earlier, such as one whose address
    /// other apps had to know before this one started.
    pub fn on(app: App, listener: std::net::TcpListener) -> Result<Self> {
        listener.set_nonblocking(true)?;
        Self::listen(app, TcpListener::from_std(listener)?)
    }

    fn listen(app: App, listener: TcpListener) -> Result<Self> {
        let addr = listener.local_addr()?;
        let task = tokio::spawn(accept_loop(app, listener));
        Ok(Self { addr, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(app: App, listener: TcpListener) {
    // Owned by this loop, so that aborting it aborts every connection.
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let Ok((stream, client)) = listener.accept().await else {
            continue;
        };
        while connections.try_join_next().is_some() {}
        let app = app.clone();
        connections.spawn(async move {
            let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let app = app.clone();
                async move {
                    let request = request.map(|body| {
                        body.map_err(|e| ErrorCode::InternalError(Some(e.to_string())))
                            .boxed_unsync()
                    });
                    let response = app.handle(request, client).await;
                    Ok::<_, std::convert::Infallible>(response.map(Full::<Bytes>::new))
                }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .http1_only()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
