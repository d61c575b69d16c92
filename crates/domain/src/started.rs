//! Starting work a future spawns while it is polled, for the guests'
//! executor. wit-bindgen's executor adds a task spawned during a poll to
//! its set without polling it, and polls again only when the instance is
//! woken: sending a request (which spawns the task that writes its body)
//! or handing a decision to a spawned drain, and then waiting, would wait
//! for whatever wakes the instance next, or forever when all else waits
//! too (a webhook that never answers held every email behind it).

use std::future::Future;
use std::pin::pin;

/// Runs `future`, asking to be polled once more right after its first
/// poll, so that what that poll spawned starts at once.
pub async fn polled_again<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut first = true;
    std::future::poll_fn(|cx| {
        let polled = future.as_mut().poll(cx);
        if std::mem::take(&mut first) && polled.is_pending() {
            cx.waker().wake_by_ref();
        }
        polled
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll, Wake, Waker};

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_pending_future_asks_to_be_polled_again_once() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut waiting = Box::pin(polled_again(std::future::pending::<()>()));
        for _ in 0..3 {
            assert!(waiting.as_mut().poll(&mut cx).is_pending());
        }
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_ready_future_asks_for_nothing() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut ready = Box::pin(polled_again(std::future::ready(7)));
        assert_eq!(ready.as_mut().poll(&mut cx), Poll::Ready(7));
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
    }
}
