//! Closed-loop read load for the edge benchmark and the region simulation:
//! many clients, each sending its next read as soon as the last is
//! answered, for a set time, over a mix of agenda routes; and the latency
//! figures (p50, p99, max), error and staleness counts that come out of it.

use std::future::Future;
use std::time::{Duration, Instant};

/// What a read was answered with; status 0 means no answer at all.
#[derive(Debug, Clone, Copy)]
pub struct Answer {
    pub status: u16,
    /// Marked `eventfront-stale: 1`: served from a copy the edge could not
    /// confirm with the origin.
    pub stale: bool,
}

impl Answer {
    pub fn of(status: u16, headers: &http::HeaderMap) -> Self {
        Self {
            status,
            stale: headers
                .get("eventfront-stale")
                .is_some_and(|v| v.as_bytes() == b"1"),
        }
    }

    pub const NONE: Self = Self {
        status: 0,
        stale: false,
    };
}

/// One client's way of sending a read: in-process or over TCP.
pub trait Reader: Send + 'static {
    fn read(&mut self, path: &str) -> impl Future<Output = Answer> + Send;
}

impl Reader for spin_test_host::App {
    async fn read(&mut self, path: &str) -> Answer {
        let response = self.get(path).await;
        Answer::of(response.status().as_u16(), response.headers())
    }
}

/// A read still unanswered after this counts as no answer; longer than any
/// timeout the edge or the host has, so it only ends true hangs.
const GIVE_UP: Duration = Duration::from_secs(60);

/// What a load run measured.
#[derive(Debug, Clone)]
pub struct Figures {
    pub reads: usize,
    pub per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub non_200: usize,
    pub stale: usize,
}

/// Every read of one load run: how long each took and what it got.
pub struct Run {
    seen: Vec<(Duration, Answer)>,
    elapsed: Duration,
}

impl Run {
    pub fn per_second(&self) -> f64 {
        self.seen.len() as f64 / self.elapsed.as_secs_f64()
    }
}

/// Runs one client per reader for `duration`, each cycling through `paths`
/// from its own starting point so every route is read all the time. Reads
/// under way at the end are waited for and counted.
pub async fn run_load<R: Reader>(readers: Vec<R>, duration: Duration, paths: &[String]) -> Run {
    assert!(!paths.is_empty(), "a load needs paths to read");
    let started = Instant::now();
    let deadline = started + duration;
    let clients = readers.into_iter().enumerate().map(|(i, mut reader)| {
        let paths = paths.to_vec();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut next = i;
            while Instant::now() < deadline {
                let path = &paths[next % paths.len()];
                next += 1;
                let sent = Instant::now();
                let answer = tokio::time::timeout(GIVE_UP, reader.read(path))
                    .await
                    .unwrap_or(Answer::NONE);
                seen.push((sent.elapsed(), answer));
            }
            seen
        })
    });
    let seen: Vec<(Duration, Answer)> = futures::future::join_all(clients)
        .await
        .into_iter()
        .flat_map(|client| client.expect("a load client panicked"))
        .collect();
    Run {
        seen,
        elapsed: started.elapsed(),
    }
}

/// One load run's figures.
pub async fn read_load<R: Reader>(
    readers: Vec<R>,
    duration: Duration,
    paths: &[String],
) -> Figures {
    Figures::of(&[run_load(readers, duration, paths).await])
}

impl Figures {
    /// The figures of several runs taken together: throughput over their
    /// summed time, percentiles over all their reads.
    pub fn of(runs: &[Run]) -> Self {
        let seen = || runs.iter().flat_map(|run| run.seen.iter());
        let elapsed: Duration = runs.iter().map(|run| run.elapsed).sum();
        let mut latencies: Vec<Duration> = seen().map(|(d, _)| *d).collect();
        latencies.sort_unstable();
        let at = |q: usize| {
            latencies
                .get((latencies.len() * q / 100).min(latencies.len().saturating_sub(1)))
                .copied()
                .unwrap_or_default()
        };
        Figures {
            reads: latencies.len(),
            per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
            p50: at(50),
            p99: at(99),
            max: latencies.last().copied().unwrap_or_default(),
            non_200: seen().filter(|(_, a)| a.status != 200).count(),
            stale: seen().filter(|(_, a)| a.stale).count(),
        }
    }
}

/// The reads an agenda page makes: the sessions, the speakers, the event,
/// one session (the first in `sessions`, the sessions document), and the
/// first day's sessions, as a large agenda is read one day at a time.
pub fn agenda_mix(slug: &str, sessions: &[u8]) -> Vec<String> {
    let sessions: serde_json::Value =
        serde_json::from_slice(sessions).expect("the sessions document is JSON");
    let first = &sessions["sessions"][0];
    let id = first["id"].as_str().expect("the event has a session");
    // Times are written in the event's zone, so the date is its own day.
    let day = first["starts_at"]
        .as_str()
        .and_then(|t| t.get(..10))
        .expect("a session has a start");
    vec![
        format!("/api/events/{slug}/sessions"),
        format!("/api/events/{slug}/speakers"),
        format!("/api/events/{slug}"),
        format!("/api/events/{slug}/sessions/{id}"),
        format!("/api/events/{slug}/sessions?day={day}"),
    ]
}

/// Milliseconds, for printing.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `n` concurrent GETs of `path`, all sent at once: each one's answer and
/// latency, in the order they were sent.
pub async fn concurrent_gets(
    app: &spin_test_host::App,
    path: &str,
    n: usize,
) -> Vec<(Answer, Duration)> {
    let reads = (0..n).map(|_| {
        let app = app.clone();
        let path = path.to_string();
        tokio::spawn(async move {
            let sent = Instant::now();
            let response = app.get(&path).await;
            (
                Answer::of(response.status().as_u16(), response.headers()),
                sent.elapsed(),
            )
        })
    });
    futures::future::join_all(reads)
        .await
        .into_iter()
        .map(|read| read.expect("a read task panicked"))
        .collect()
}
