//! Single flight: concurrent requests in one instance that need the same
//! slow thing (a cold snapshot, a refill, the published list) share one
//! call and its result, success or failure; waiters never queue up to
//! repeat it. An entry lives only while its call runs.

use futures::FutureExt;
use futures::future::{LocalBoxFuture, Shared};
use std::cell::RefCell;
use std::collections::HashMap;

pub struct Flights<T> {
    running: RefCell<HashMap<String, Shared<LocalBoxFuture<'static, T>>>>,
}

impl<T> Default for Flights<T> {
    fn default() -> Self {
        Self {
            running: RefCell::default(),
        }
    }
}

impl<T: Clone + 'static> Flights<T> {
    /// The result of the call running under `key`, starting it with
    /// `start` when none runs.
    pub async fn join<F>(&self, key: &str, start: impl FnOnce() -> F) -> T
    where
        F: Future<Output = T> + 'static,
    {
        let flight = self
            .running
            .borrow_mut()
            .entry(key.to_string())
            .or_insert_with(|| start().boxed_local().shared())
            .clone();
        let result = flight.clone().await;
        let mut running = self.running.borrow_mut();
        if running.get(key).is_some_and(|f| f.ptr_eq(&flight)) {
            running.remove(key);
        }
        result
    }
}
