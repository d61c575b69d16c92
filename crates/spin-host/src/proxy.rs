//! A link between two servers on one machine, usable in front of `spin up`
//! as well as the test host: an HTTP forwarder that delays every request by
//! half the round trip on the way out and half on the way back, or holds
//! it unanswered (a hung peer), or refuses connections (a peer that is
//! down). The fault can be changed while it runs, so a run can warm up over
//! a healthy link and then break it. The kernel's netem is not available
//! here, hence a process of our own.

use crate::outbound::LinkFault;
use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct DelayProxy {
    addr: SocketAddr,
    fault: watch::Sender<Option<LinkFault>>,
    task: JoinHandle<()>,
}

impl DelayProxy {
    /// Listens on `listen` and forwards to `to` (`http://host:port`) with
    /// `round_trip` added to every request.
    pub async fn bind(listen: SocketAddr, to: &str, round_trip: Duration) -> Result<Self> {
        let fault = (!round_trip.is_zero()).then_some(LinkFault::Delay(round_trip));
        Self::with_fault(listen, to, fault).await
    }

    /// Listens on `listen` and forwards to `to` through `fault` (`None`:
    /// straight through).
    pub async fn with_fault(
        listen: SocketAddr,
        to: &str,
        fault: Option<LinkFault>,
    ) -> Result<Self> {
        let target: http::Uri = to.parse().context("--to must be an http:// URL")?;
        let authority = target
            .authority()
            .context("--to needs a host and port")?
            .to_string();
        let listener = listen_on(listen)?;
        let addr = listener.local_addr()?;
        let (sender, faults) = watch::channel(fault);
        let task = tokio::spawn(accept_loop(listener, authority, faults));
        Ok(Self {
            addr,
            fault: sender,
            task,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Changes the link for requests from now on; `None` heals it.
    pub fn set(&self, fault: Option<LinkFault>) {
        self.fault.send_replace(fault);
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads a fault as the `proxy` command takes it, on its command line and
/// on its standard input: `pass`, `delay MS`, `hang` or `refuse`.
pub fn parse_fault(text: &str) -> Result<Option<LinkFault>> {
    let words: Vec<&str> = text.split_whitespace().collect();
    Ok(match words.as_slice() {
        ["pass"] => None,
        ["delay", ms] => Some(LinkFault::Delay(Duration::from_millis(
            ms.parse().context("delay takes milliseconds")?,
        ))),
        ["hang"] => Some(LinkFault::Hang),
        ["refuse"] => Some(LinkFault::Cut),
        _ => bail!("expected `pass`, `delay MS`, `hang` or `refuse`, got {text:?}"),
    })
}

/// A listener that, unlike tokio's default, can be closed and reopened on
/// the same port while connections to it are still winding down.
fn listen_on(addr: SocketAddr) -> Result<TcpListener> {
    let socket = bound(addr)?;
    Ok(socket.listen(1024)?)
}

fn bound(addr: SocketAddr) -> Result<TcpSocket> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket
        .bind(addr)
        .with_context(|| format!("cannot bind {addr}"))?;
    Ok(socket)
}

async fn accept_loop(
    mut listener: TcpListener,
    authority: String,
    mut faults: watch::Receiver<Option<LinkFault>>,
) {
    let addr = match listener.local_addr() {
        Ok(addr) => addr,
        Err(_) => return,
    };
    loop {
        if *faults.borrow_and_update() == Some(LinkFault::Cut) {
            // A peer that is down: nothing listens, so connecting is refused
            // (not reset). The socket stays bound so the port stays ours.
            drop(listener);
            let held = match bound(addr) {
                Ok(held) => held,
                Err(e) => {
                    eprintln!("proxy: cannot hold {addr} while refusing: {e:#}");
                    return;
                }
            };
            while *faults.borrow_and_update() == Some(LinkFault::Cut) {
                if faults.changed().await.is_err() {
                    return;
                }
            }
            drop(held);
            listener = match listen_on(addr) {
                Ok(listener) => listener,
                Err(e) => {
                    eprintln!("proxy: cannot listen on {addr} again: {e:#}");
                    return;
                }
            };
            continue;
        }
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(connection(stream, authority.clone(), faults.clone()));
                }
                Err(_) => return,
            },
            changed = faults.changed() => if changed.is_err() {
                return;
            },
        }
    }
}

/// One client connection, served until the client closes it or the link is
/// cut: a cut also ends connections kept alive from before.
async fn connection(
    stream: TcpStream,
    authority: String,
    mut faults: watch::Receiver<Option<LinkFault>>,
) {
    let per_request = faults.clone();
    let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
        let authority = authority.clone();
        let fault = *per_request.borrow();
        async move {
            let delay = match fault {
                Some(LinkFault::Hang) => {
                    // Read in full, never answered: the caller's own
                    // timeout must end it.
                    let _ = request.into_body().collect().await;
                    return std::future::pending().await;
                }
                Some(LinkFault::LoseAnswer) => {
                    // The peer does the work; its answer never comes back.
                    let _ = forward(&authority, request).await;
                    return std::future::pending().await;
                }
                Some(LinkFault::Delay(round_trip)) => round_trip,
                Some(LinkFault::Cut) | None => Duration::ZERO,
            };
            tokio::time::sleep(delay / 2).await;
            let response = forward(&authority, request).await;
            tokio::time::sleep(delay / 2).await;
            Ok::<_, std::convert::Infallible>(response.unwrap_or_else(|e| {
                let mut bad = hyper::Response::new(Full::new(Bytes::from(e.to_string())));
                *bad.status_mut() = http::StatusCode::BAD_GATEWAY;
                bad
            }))
        }
    });
    let serving =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    let cut = async {
        while *faults.borrow_and_update() != Some(LinkFault::Cut) {
            if faults.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = serving => {}
        () = cut => {}
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse_as_the_command_takes_them() {
        assert_eq!(parse_fault("pass").unwrap(), None);
        assert_eq!(
            parse_fault(" delay 250 ").unwrap(),
            Some(LinkFault::Delay(Duration::from_millis(250)))
        );
        assert_eq!(parse_fault("hang").unwrap(), Some(LinkFault::Hang));
        assert_eq!(parse_fault("refuse").unwrap(), Some(LinkFault::Cut));
        assert!(parse_fault("delay soon").is_err());
        assert!(parse_fault("cut").is_err());
    }

    /// A backend that answers every request with 200.
    async fn backend() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let ok = service_fn(|_| async {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                        Bytes::from_static(b"ok"),
                    )))
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), ok),
                );
            }
        });
        url
    }

    async fn status(addr: SocketAddr) -> std::io::Result<u16> {
        let stream = TcpStream::connect(addr).await?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(connection);
        let request = hyper::Request::get("/")
            .header("host", addr.to_string())
            .body(Full::new(Bytes::new()))
            .unwrap();
        let response = sender
            .send_request(request)
            .await
            .map_err(std::io::Error::other)?;
        Ok(response.status().as_u16())
    }

    /// Polls until connecting to `addr` is refused or not, as `refused` says.
    async fn settles(addr: SocketAddr, refused: bool) {
        for _ in 0..100 {
            let outcome = TcpStream::connect(addr).await;
            let is_refused = outcome
                .as_ref()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused);
            if is_refused == refused {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("connecting to {addr} never became refused={refused}");
    }

    #[tokio::test]
    async fn a_link_forwards_hangs_refuses_and_heals() {
        let to = backend().await;
        let proxy = DelayProxy::with_fault("127.0.0.1:0".parse().unwrap(), &to, None)
            .await
            .unwrap();
        let addr = proxy.addr;
        assert_eq!(status(addr).await.unwrap(), 200);

        proxy.set(Some(LinkFault::Hang));
        let hung = tokio::time::timeout(Duration::from_millis(300), status(addr)).await;
        assert!(hung.is_err(), "a hung link answered: {hung:?}");

        proxy.set(Some(LinkFault::Cut));
        settles(addr, true).await;

        proxy.set(Some(LinkFault::Delay(Duration::from_millis(100))));
        settles(addr, false).await;
        let started = std::time::Instant::now();
        assert_eq!(status(addr).await.unwrap(), 200);
        assert!(started.elapsed() >= Duration::from_millis(100));
    }
}
