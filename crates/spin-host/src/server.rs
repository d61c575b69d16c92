//! Serves an app over HTTP/1.1 on a TCP listener, as `spin up` does, for
//! browser tests, benchmarks and topologies of several apps.

use crate::App;
use anyhow::Result;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
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
                    Ok::<_, std::convert::Infallible>(as_spin_writes(response))
                }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .http1_only()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// A guest's answer written as Spin's server writes it: Spin streams the
/// guest's body into hyper as it comes, so an answer without
/// `Content-Length` goes out chunked, and when the body's end reaches
/// hyper after its data (as it did for every answer the edge forwarded)
/// the last chunk goes in a write of its own; on a kept connection (Spin
/// sets no TCP_NODELAY) that write waits for the client's delayed ACK,
/// about 40 ms. An answer with `Content-Length` is complete when its bytes
/// are, and goes out in one write. The host collects a guest's whole body
/// before writing, so it cannot tell when the end came: it writes every
/// unsized answer the slow way, which Spin does only for some, so that no
/// answer passes here by luck of timing.
fn as_spin_writes(response: http::Response<Bytes>) -> http::Response<GuestBody> {
    let sized = response
        .headers()
        .contains_key(http::header::CONTENT_LENGTH);
    response.map(|bytes| GuestBody {
        data: Some(bytes).filter(|b| !b.is_empty()),
        end_seen_later: !sized,
    })
}

/// A guest's body as Spin hands it to hyper: the data, then its end, which
/// an unsized stream only reports on a later poll.
struct GuestBody {
    data: Option<Bytes>,
    end_seen_later: bool,
}

impl Body for GuestBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Some(data) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if std::mem::take(&mut self.end_seen_later) {
            // hyper flushes what it has before it polls again.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && !self.end_seen_later
    }

    fn size_hint(&self) -> SizeHint {
        match (&self.data, self.end_seen_later) {
            (_, true) => SizeHint::default(),
            (Some(data), false) => SizeHint::with_exact(data.len() as u64),
            (None, false) => SizeHint::with_exact(0),
        }
    }
}
