//! Registration attempts per client address, counted in fixed one-minute
//! windows in the edge's KV store so that every instance of the edge sees
//! the same count. It only slows abusers down: capacity is decided at the
//! origin, never here.

use crate::cache::now_ms;
use crate::error::EdgeError;
use crate::kv;
use serde::{Deserialize, Serialize};

const WINDOW_SECS: i64 = 60;

#[derive(Serialize, Deserialize)]
struct Window {
    started: i64,
    count: u32,
}

/// The client's address without its port (`spin-client-addr` is `ip:port`).
pub fn client_ip(spin_client_addr: Option<&str>) -> String {
    let addr = spin_client_addr.unwrap_or("unknown");
    match addr.rsplit_once(':') {
        Some((ip, port)) if port.chars().all(|c| c.is_ascii_digit()) => {
            ip.trim_matches(['[', ']']).to_string()
        }
        _ => addr.to_string(),
    }
}

/// Counts one attempt; `Err(RateLimited)` once `per_minute` is exceeded.
/// `0` turns the limit off. A failing store admits: the count is a guard
/// against abuse, and no registration may be lost to it.
pub async fn admit(ip: &str, per_minute: u32) -> Result<(), EdgeError> {
    if per_minute == 0 {
        return Ok(());
    }
    let key = format!("ratelimit/{ip}");
    let now = now_ms() / 1000;
    let mut window = kv::get_json::<Window>(&key)
        .await
        .filter(|w| now - w.started < WINDOW_SECS)
        .unwrap_or(Window {
            started: now,
            count: 0,
        });
    if window.count >= per_minute {
        let retry_after = (window.started + WINDOW_SECS - now).max(1) as u32;
        return Err(EdgeError::RateLimited(retry_after));
    }
    window.count += 1;
    kv::set_json(&key, &window).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::client_ip;

    #[test]
    fn ports_are_dropped_from_client_addresses() {
        assert_eq!(client_ip(Some("203.0.113.9:51234")), "203.0.113.9");
        assert_eq!(client_ip(Some("[2001:db8::1]:443")), "2001:db8::1");
        assert_eq!(client_ip(None), "unknown");
    }
}
