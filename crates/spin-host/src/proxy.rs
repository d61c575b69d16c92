//! A delaying HTTP forwarder: every request waits half the configured round
//! trip before it is sent on and half before its answer comes back, so a
//! region simulation can put distance between apps on one machine (the
//! kernel's netem is not available here).

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct DelayProxy {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl DelayProxy {
    /// Listens on `listen` and forwards to `to` (`http://host:port`).
    pub async fn bind(listen: SocketAddr, to: &str, round_trip: Duration) -> Result<Self> {
        let target: http::Uri = to.parse().context("--to must be an http:// URL")?;
        let authority = target
            .authority()
            .context("--to needs a host and port")?
            .to_string();
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let authority = authority.clone();
                tokio::spawn(async move {
                    let service =
                        service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                            let authority = authority.clone();
                            async move {
                                tokio::time::sleep(round_trip / 2).await;
                                let response = forward(&authority, request).await;
                                tokio::time::sleep(round_trip / 2).await;
                                Ok::<_, std::convert::Infallible>(response.unwrap_or_else(|e| {
                                    let mut bad =
                                        hyper::Response::new(Full::new(Bytes::from(e.to_string())));
                                    *bad.status_mut() = http::StatusCode::BAD_GATEWAY;
                                    bad
                                }))
                            }
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self { addr, task })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(
    authority: &str,
    request: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Full<Bytes>>> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes();
    let stream = TcpStream::connect(authority).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let mut outgoing = hyper::Request::from_parts(parts, Full::new(body));
    outgoing
        .headers_mut()
        .insert(http::header::HOST, authority.parse()?);
    let response = sender.send_request(outgoing).await?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(hyper::Response::from_parts(parts, Full::new(body)))
}
