//! Single flight: concurrent requests in one instance that need the same
//! slow thing (a cold snapshot, a refill, the published list) share one
//! call and its result, success or failure; waiters never queue up to
//! repeat it. The first request makes the call in its own task (a host
//! call may only be awaited by the component task that started it) and
//! hands the result to the others. An entry lives only while its call
//! runs.

use futures::channel::oneshot;
use std::cell::RefCell;
use std::collections::HashMap;

pub struct Flights<T> {
    waiting: RefCell<HashMap<String, Vec<oneshot::Sender<T>>>>,
}

impl<T> Default for Flights<T> {
    fn default() -> Self {
        Self {
            waiting: RefCell::default(),
        }
    }
}

/// Ends a flight whose leader went away without an answer: its waiters see
/// their channel close and one of them leads anew.
struct Leader<'a, T> {
    flights: &'a Flights<T>,
    key: &'a str,
}

impl<T> Drop for Leader<'_, T> {
    fn drop(&mut self) {
        self.flights.waiting.borrow_mut().remove(self.key);
    }
}

impl<T: Clone> Flights<T> {
    /// The result of the call under `key`: made by `start` when no other
    /// request is making it, else the one being made.
    pub async fn join<F>(&self, key: &str, start: impl FnOnce() -> F) -> T
    where
        F: Future<Output = T>,
    {
        let mut start = Some(start);
        loop {
            let waiter = {
                let mut waiting = self.waiting.borrow_mut();
                match waiting.get_mut(key) {
                    Some(waiters) => {
                        let (tx, rx) = oneshot::channel();
                        waiters.push(tx);
                        Some(rx)
                    }
                    None => {
                        waiting.insert(key.to_string(), Vec::new());
                        None
                    }
                }
            };
            match waiter {
                Some(rx) => match rx.await {
                    Ok(result) => return result,
                    // The leader went away: try again, perhaps as leader.
                    Err(oneshot::Canceled) => continue,
                },
                None => {
                    let leader = Leader { flights: self, key };
                    let call = start.take().expect("a request leads at most once");
                    let result = call().await;
                    let waiters = self.waiting.borrow_mut().remove(key).unwrap_or_default();
                    drop(leader);
                    for waiter in waiters {
                        let _ = waiter.send(result.clone());
                    }
                    return result;
                }
            }
        }
    }
}
