//! A TCP relay on loopback between a client and a server (the origin and
//! its PostgreSQL), which a benchmark can make slow, hung or refusing the
//! way a network fails: the host's own link faults cover HTTP only, and a
//! database session is a TCP connection of Spin's, not a request.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// How the link fails.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Fault {
    /// Every chunk arrives this much later, in each direction.
    Delay(Duration),
    /// Nothing gets through and no connection ends. (The relay's kernel
    /// still acknowledges what it holds, so unlike a real loss of packets
    /// this never fires TCP keepalives or `tcp_user_timeout`.)
    Hang,
    /// Every connection is reset, open ones and new ones.
    Refuse,
}

/// A relay to one server, serving until dropped.
pub struct Relay {
    addr: SocketAddr,
    fault: Arc<watch::Sender<Option<Fault>>>,
    accepting: tokio::task::JoinHandle<()>,
}

impl Relay {
    /// Relays a free loopback port to `server`, healthy.
    pub async fn start(server: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free loopback port");
        let addr = listener.local_addr().expect("a bound address");
        let fault = Arc::new(watch::Sender::new(None));
        let faults = fault.clone();
        let accepting = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(client, server, faults.subscribe()));
            }
        });
        Self {
            addr,
            fault,
            accepting,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Breaks the link (`Some`) or heals it (`None`).
    pub fn set(&self, fault: Option<Fault>) {
        self.fault.send_replace(fault);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

/// One connection, relayed both ways until either side ends it or the
/// link refuses. Both connections close with a reset (no linger), as a
/// refusing network ends them.
async fn relay(client: TcpStream, server: SocketAddr, fault: watch::Receiver<Option<Fault>>) {
    let _ = client.set_zero_linger();
    if *fault.borrow() == Some(Fault::Refuse) {
        return;
    }
    let Ok(upstream) = TcpStream::connect(server).await else {
        return;
    };
    let _ = upstream.set_zero_linger();
    // Both ends send small messages and wait for the answer: Nagle's
    // algorithm would hold each one for the other's delayed ACK.
    for stream in [&client, &upstream] {
        let _ = stream.set_nodelay(true);
    }
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = upstream.into_split();
    tokio::select! {
        () = pump(client_read, server_write, fault.clone()) => {}
        () = pump(server_read, client_write, fault) => {}
    }
}

/// Forwards what `from` reads to `to`, each chunk held as the link's fault
/// says, until `from` ends, `to` fails or the link refuses.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    fault: watch::Receiver<Option<Fault>>,
) {
    // Each chunk with when it may go on, if the link delays it.
    let (chunks, mut arriving) = mpsc::unbounded_channel::<(Option<Instant>, Vec<u8>)>();
    let reading = {
        let fault = fault.clone();
        async move {
            let mut buffer = vec![0; 16 * 1024];
            while let Ok(n @ 1..) = from.read(&mut buffer).await {
                let due = match *fault.borrow() {
                    Some(Fault::Delay(delay)) if !delay.is_zero() => Some(Instant::now() + delay),
                    _ => None,
                };
                if chunks.send((due, buffer[..n].to_vec())).is_err() {
                    return;
                }
            }
        }
    };
    let writing = {
        let mut fault = fault.clone();
        async move {
            while let Some((due, chunk)) = arriving.recv().await {
                // A hung link holds what it has until it heals.
                while *fault.borrow() == Some(Fault::Hang) {
                    if fault.changed().await.is_err() {
                        return;
                    }
                }
                // (Tokio's timer counts whole milliseconds, rounding up.)
                if let Some(due) = due {
                    tokio::time::sleep_until(due).await;
                }
                if to.write_all(&chunk).await.is_err() {
                    return;
                }
            }
        }
    };
    let refusing = async move {
        let mut fault = fault;
        while *fault.borrow_and_update() != Some(Fault::Refuse) {
            if fault.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        ((), ()) = async { tokio::join!(reading, writing) } => {}
        () = refusing => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on loopback.
    async fn echo() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut read, mut write) = stream.split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                });
            }
        });
        addr
    }

    /// Sends a ping and reads its echo within `limit`: how long it took.
    async fn round_trip(stream: &mut TcpStream, limit: Duration) -> std::io::Result<Duration> {
        let sent = Instant::now();
        stream.write_all(b"ping").await?;
        let mut answer = [0; 4];
        tokio::time::timeout(limit, stream.read_exact(&mut answer))
            .await
            .map_err(|_| std::io::ErrorKind::TimedOut)??;
        assert_eq!(&answer, b"ping");
        Ok(sent.elapsed())
    }

    #[tokio::test]
    async fn a_link_is_delayed_hung_healed_and_refused_as_set() {
        let relay = Relay::start(echo().await).await;
        let mut stream = TcpStream::connect(relay.addr()).await.unwrap();
        let limit = Duration::from_secs(5);
        assert!(round_trip(&mut stream, limit).await.unwrap() < Duration::from_millis(50));

        relay.set(Some(Fault::Delay(Duration::from_millis(100))));
        let slow = round_trip(&mut stream, limit).await.unwrap();
        assert!(
            slow >= Duration::from_millis(200),
            "{slow:?}: 100 ms each way"
        );

        relay.set(Some(Fault::Hang));
        let hung = round_trip(&mut stream, Duration::from_millis(300)).await;
        assert_eq!(hung.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
        // Healed, what the hung link held gets through, on the same connection.
        relay.set(None);
        let mut held = [0; 4];
        stream.read_exact(&mut held).await.unwrap();
        assert_eq!(&held, b"ping");
        round_trip(&mut stream, limit).await.unwrap();

        relay.set(Some(Fault::Refuse));
        assert!(
            round_trip(&mut stream, limit).await.is_err(),
            "an open connection is reset"
        );
        let mut again = TcpStream::connect(relay.addr()).await.unwrap();
        assert!(
            round_trip(&mut again, limit).await.is_err(),
            "a new one too"
        );
    }
}
