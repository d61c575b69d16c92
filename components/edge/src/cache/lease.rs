//! Electing one revalidator per edge across all of its instances. The lease
//! lives in KV under `lease/{key}`; an instance that is elected writes its
//! own lease, waits a moment and reads it back, and goes on only if it is
//! still its own, so that instances that raced for an expired lease settle
//! on one. KV has no compare-and-set, so a rare second revalidation may
//! slip through; never one per reader or per instance. The work runs after
//! the response (`spawn`), so readers never wait for it.

use super::instance::instance;
use super::now_ms;
use crate::kv;
use eventfront_domain::freshness::{Lease, Millis};
use std::time::Duration;

/// How long an elected instance waits before reading its lease back: long
/// enough for racing writes to land, and spent after the response.
const SETTLE: Duration = Duration::from_millis(50);

fn kv_key(key: &str) -> String {
    format!("lease/{key}")
}

/// The lease of `key`: this instance's own knowledge while it holds, else
/// KV's (one get).
pub async fn current(key: &str, now: Millis) -> Option<Lease> {
    let instance = instance();
    if let Some(lease) = instance.lease(key, now) {
        return Some(lease);
    }
    let stored = stored(key).await;
    if let Some(lease) = stored {
        instance.saw_lease(key, lease, now);
    }
    stored
}

/// The lease of `key` as KV has it.
pub async fn stored(key: &str) -> Option<Lease> {
    kv::get_json(&kv_key(key)).await
}

/// Starts `work` in the background unless this instance already leads a
/// revalidation of `key`. `work` says whether the origin answered: if it
/// did the lease is released, else it is left as a backoff for everyone.
pub fn elect(key: &str, now: Millis, work: impl Future<Output = bool> + 'static) {
    let instance = instance();
    if instance.leads(key, now) {
        return;
    }
    let mine = take(key, now);
    let key = key.to_string();
    spin_sdk::wasip3::spawn(async move {
        // Every instance whose memory saw the lease end may be elected at
        // once; a fresh look first leaves all but the first without a KV
        // write (writes are what a store serializes).
        if let Some(other) = stored(&key).await.filter(|l| l.active(now_ms())) {
            instance.saw_lease(&key, other, now_ms());
            return;
        }
        if kv::set_json(&kv_key(&key), &mine).await {
            spin_sdk::time::sleep(SETTLE).await;
            let standing: Option<Lease> = kv::get_json(&kv_key(&key)).await;
            if let Some(other) = standing.filter(|l| l.owner != mine.owner) {
                instance.saw_lease(&key, other, now_ms());
                return;
            }
        }
        release(&key, work.await).await;
    });
}

/// Takes the lease of `key` in this instance; KV learns of it when the
/// caller writes it (`announce`).
fn take(key: &str, now: Millis) -> Lease {
    let mine = Lease::taken(now, spin_sdk::wasip3::random::random::get_random_u64());
    instance().took_lease(key, mine, now);
    mine
}

/// Takes the lease of `key` and tells every instance: for a cold fetch,
/// whose readers are waiting anyway.
pub async fn announce(key: &str, now: Millis) {
    let mine = take(key, now);
    kv::set_json(&kv_key(key), &mine).await;
}

/// Ends a lease: released when the origin answered, else left as a backoff.
pub async fn release(key: &str, answered: bool) {
    let instance = instance();
    if answered {
        instance.clear_lease(key);
        kv::delete(&kv_key(key)).await;
    } else {
        let now = now_ms();
        let backoff = Lease::backing_off(now);
        instance.took_lease(key, backoff, now);
        kv::set_json(&kv_key(key), &backoff).await;
    }
}
