//! Which events the origin publishes, kept like a snapshot: memory, then KV
//! under `meta/published`, then the origin, revalidated in the background
//! once past the staleness window. It also keeps reads of unknown slugs
//! away from the origin: a slug the list does not name is not fetched.

use super::instance::instance;
use super::{lease, now_ms};
use crate::config::EdgeConfig;
use crate::kv;
use crate::origin::{self, FETCH_TIMEOUT};
use bytes::Bytes;
use eventfront_domain::freshness::{self, Copy, Decision, Millis};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

const KEY: &str = "meta/published";
/// The list's lease; no slug starts with `_`.
const LEASE: &str = "_published";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Published {
    checked_at_ms: Millis,
    pub slugs: Vec<String>,
}

/// The list, never waiting for the origin while a copy exists; `None`
/// when none is held and the origin cannot be asked.
pub async fn list(config: &Arc<EdgeConfig>) -> Option<Published> {
    let instance = instance();
    let now = now_ms();
    let held = match instance.published() {
        Some(list) => Some(list),
        None => kv::get_json::<Published>(KEY).await,
    };
    let Some(held) = held else {
        return instance.lists.join(KEY, fetch).await;
    };
    instance.remember_published(held.clone());
    let copy = Copy {
        version: 0,
        checked_at: held.checked_at_ms,
    };
    if !freshness::within_window(&copy, now, config.staleness) {
        let lease = lease::current(LEASE, now).await;
        if let Decision::Serve {
            revalidate: true, ..
        } = freshness::decide(Some(&copy), lease.as_ref(), now, config.staleness)
        {
            lease::elect(LEASE, now, async move { fetch().await.is_some() });
        }
    }
    Some(held)
}

/// Whether the origin publishes `slug`, as far as the list says; `None`
/// when there is no list to ask.
pub async fn names(config: &Arc<EdgeConfig>, slug: &str) -> Option<bool> {
    list(config)
        .await
        .map(|list| list.slugs.iter().any(|s| s == slug))
}

/// Adds `slug` to the list: the origin announced a publish of it.
pub async fn add(slug: &str) {
    let Some(mut list) = kv::get_json::<Published>(KEY).await else {
        return;
    };
    if !list.slugs.iter().any(|s| s == slug) {
        list.slugs.push(slug.to_string());
        kv::set_json(KEY, &list).await;
        instance().remember_published(list);
    }
}

/// Takes `slug` off the list: the origin withdrew it.
pub async fn remove(slug: &str) {
    let held = match instance().published() {
        Some(list) => Some(list),
        None => kv::get_json::<Published>(KEY).await,
    };
    let Some(mut list) = held else {
        return;
    };
    if list.slugs.iter().any(|s| s == slug) {
        list.slugs.retain(|s| s != slug);
        kv::set_json(KEY, &list).await;
        instance().remember_published(list);
    }
}

/// The origin's list, kept in memory and KV; `None` if it cannot be had.
async fn fetch() -> Option<Published> {
    let answer = origin::call(
        &http::Method::GET,
        "/_origin/events",
        &[],
        Bytes::new(),
        None,
        FETCH_TIMEOUT,
    )
    .await;
    let answer = match answer {
        Ok(answer) if answer.status.is_success() => answer,
        Ok(answer) => {
            eprintln!(
                "edge: the origin answered {} for its event list",
                answer.status
            );
            return None;
        }
        Err(e) => {
            eprintln!("edge: the event list could not be revalidated: {}", e.why);
            return None;
        }
    };
    let body: serde_json::Value = serde_json::from_slice(&answer.body).ok()?;
    let slugs = body["events"]
        .as_array()?
        .iter()
        .filter_map(|e| e["slug"].as_str().map(String::from))
        .collect();
    let list = Published {
        checked_at_ms: now_ms(),
        slugs,
    };
    kv::set_json(KEY, &list).await;
    instance().remember_published(list.clone());
    Some(list)
}
