//! A batching queue: work waiting per key (an event) for one task to take
//! it in batches, each item answered through a channel of its own. The
//! queue knows nothing of what it holds; `group_commit` fills it with
//! registrations and drains it one write transaction per batch.

use futures::channel::oneshot;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// One item waiting, and where its answer goes.
pub struct Queued<T, A> {
    pub item: T,
    pub since: Instant,
    pub answer: oneshot::Sender<A>,
}

struct Queue<T, A> {
    waiting: VecDeque<Queued<T, A>>,
    /// Whether a task is draining this queue now.
    draining: bool,
}

impl<T, A> Default for Queue<T, A> {
    fn default() -> Self {
        Self {
            waiting: VecDeque::new(),
            draining: false,
        }
    }
}

/// The queues by key; a key has one only while something waits in it.
pub struct BatchQueues<T, A> {
    queues: Mutex<BTreeMap<String, Queue<T, A>>>,
}

/// What `push` did with an item.
pub enum Pushed<A> {
    /// Queued: its answer comes through this; `drain` says whether the
    /// caller is to start the task that drains the key's queue.
    Waiting {
        answer: oneshot::Receiver<A>,
        drain: bool,
    },
    /// The key's queue already holds `limit` items.
    Full,
}

impl<T, A> BatchQueues<T, A> {
    pub const fn new() -> Self {
        Self {
            queues: Mutex::new(BTreeMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Queue<T, A>>> {
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `item` under `key`, unless `limit` items wait there already.
    pub fn push(&self, key: &str, item: T, limit: usize) -> Pushed<A> {
        let mut queues = self.lock();
        let queue = queues.entry(key.to_string()).or_default();
        if queue.waiting.len() >= limit {
            return Pushed::Full;
        }
        let (answer, answered) = oneshot::channel();
        queue.waiting.push_back(Queued {
            item,
            since: Instant::now(),
            answer,
        });
        Pushed::Waiting {
            answer: answered,
            drain: !std::mem::replace(&mut queue.draining, true),
        }
    }

    /// When the oldest item under `key` arrived; `None` once nothing waits,
    /// and then the queue is gone (its drain is to end: the next `push`
    /// starts another).
    pub fn oldest(&self, key: &str) -> Option<Instant> {
        let mut queues = self.lock();
        let oldest = queues.get(key)?.waiting.front().map(|queued| queued.since);
        if oldest.is_none() {
            queues.remove(key);
        }
        oldest
    }

    /// The first `max` items under `key`, taken out.
    pub fn take(&self, key: &str, max: usize) -> Vec<Queued<T, A>> {
        self.lock().get_mut(key).map_or_else(Vec::new, |queue| {
            let take = queue.waiting.len().min(max);
            queue.waiting.drain(..take).collect()
        })
    }

    /// Puts `items` (taken out earlier, in their order) back at the head
    /// of `key`'s queue, before whatever arrived since; for the key's
    /// drain, which goes on draining it.
    pub fn put_back(&self, key: &str, items: Vec<Queued<T, A>>) {
        if items.is_empty() {
            return;
        }
        let mut queues = self.lock();
        let queue = queues.entry(key.to_string()).or_default();
        queue.draining = true;
        for queued in items.into_iter().rev() {
            queue.waiting.push_front(queued);
        }
    }

    /// Takes out the items under `key` that `chosen` picks.
    pub fn take_where(
        &self,
        key: &str,
        chosen: impl Fn(&Queued<T, A>) -> bool,
    ) -> Vec<Queued<T, A>> {
        let mut queues = self.lock();
        let Some(queue) = queues.get_mut(key) else {
            return Vec::new();
        };
        let (taken, waiting): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut queue.waiting)
            .into_iter()
            .partition(|queued| chosen(queued));
        queue.waiting = waiting;
        taken.into()
    }

    /// Answers `late()` to every item under `key` that has waited `wait`.
    pub fn refuse_late(&self, key: &str, wait: Duration, late: impl Fn() -> A) {
        for queued in self.take_where(key, |queued| queued.since.elapsed() >= wait) {
            let _ = queued.answer.send(late());
        }
    }

    /// Answers `failed()` to everything under `key`; the queue is gone, so
    /// the next `push` starts a drain again.
    pub fn fail_all(&self, key: &str, failed: impl Fn() -> A) {
        let queue = self.lock().remove(key);
        for queued in queue.into_iter().flat_map(|queue| queue.waiting) {
            let _ = queued.answer.send(failed());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;

    #[test]
    fn items_wait_per_key_and_one_drain_is_asked_for_per_key() {
        let queues: BatchQueues<u32, u32> = BatchQueues::new();
        let Pushed::Waiting {
            drain: first,
            answer,
        } = queues.push("a", 1, 8)
        else {
            panic!("queued");
        };
        let Pushed::Waiting { drain: second, .. } = queues.push("a", 2, 8) else {
            panic!("queued");
        };
        let Pushed::Waiting { drain: other, .. } = queues.push("b", 3, 8) else {
            panic!("queued");
        };
        assert!(first && !second && other);
        let batch = queues.take("a", 8);
        assert_eq!(batch.iter().map(|q| q.item).collect::<Vec<_>>(), [1, 2]);
        let _ = batch.into_iter().next().unwrap().answer.send(10);
        assert_eq!(block_on(answer), Ok(10));
        assert!(queues.oldest("a").is_none(), "drained");
        assert!(queues.oldest("b").is_some());
        let Pushed::Waiting { drain, .. } = queues.push("a", 4, 8) else {
            panic!("queued");
        };
        assert!(drain, "an emptied queue's next item starts a drain again");
    }

    #[test]
    fn a_full_queue_refuses_and_a_failure_answers_everyone() {
        let queues: BatchQueues<u32, &str> = BatchQueues::new();
        let Pushed::Waiting { answer, .. } = queues.push("a", 1, 1) else {
            panic!("queued");
        };
        assert!(matches!(queues.push("a", 2, 1), Pushed::Full));
        queues.fail_all("a", || "failed");
        assert_eq!(block_on(answer), Ok("failed"));
        assert!(matches!(
            queues.push("a", 3, 1),
            Pushed::Waiting { drain: true, .. }
        ));
        queues.refuse_late("a", Duration::ZERO, || "late");
        assert!(queues.take("a", 8).is_empty());
    }

    #[test]
    fn items_put_back_go_before_those_that_arrived_since() {
        let queues: BatchQueues<u32, u32> = BatchQueues::new();
        for item in [1, 2, 3] {
            let _ = queues.push("a", item, 8);
        }
        let taken = queues.take("a", 2);
        let _ = queues.push("a", 4, 8);
        queues.put_back("a", taken);
        let order: Vec<u32> = queues.take("a", 8).iter().map(|q| q.item).collect();
        assert_eq!(order, [1, 2, 3, 4]);
    }
}
