//! A stand-in HTTP server on loopback for tests that need something at the
//! other end of the origin's outbound calls (an edge, a mail provider):
//! each request, its head and whole body, goes to the test's handler, which
//! says what status to answer with.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Serves on a fresh loopback port until the test ends; returns its URL.
pub async fn serve<H, F>(handler: H) -> String
where
    H: Fn(http::request::Parts, Bytes) -> F + Send + Sync + 'static,
    F: Future<Output = u16> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handler = Arc::new(handler);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |request: hyper::Request<hyper::body::Incoming>| {
                        let handler = handler.clone();
                        async move {
                            let (parts, body) = request.into_parts();
                            let body = body.collect().await?.to_bytes();
                            let status = handler(parts, body).await;
                            let mut response = hyper::Response::new(Full::new(Bytes::new()));
                            *response.status_mut() = hyper::StatusCode::from_u16(status)
                                .expect("the handler answers a valid status");
                            Ok::<_, hyper::Error>(response)
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    url
}

/// A request header as text, or empty.
pub fn header(parts: &http::request::Parts, name: &str) -> String {
    parts
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}
