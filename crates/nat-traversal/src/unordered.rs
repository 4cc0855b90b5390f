//! [`Unordered`]: a handful of futures polled together, each result taken as it comes (what
//! `futures::stream::FuturesUnordered` does, for the two or three futures this crate ever
//! runs at once, without the dependency).

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::Poll;

/// Futures polled together; dropping the set cancels those still running.
pub(crate) struct Unordered<'a, T> {
    futures: Vec<Pin<Box<dyn Future<Output = T> + Send + 'a>>>,
}

impl<'a, T> Unordered<'a, T> {
    pub(crate) fn new() -> Unordered<'a, T> {
        Unordered {
            futures: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, future: impl Future<Output = T> + Send + 'a) {
        self.futures.push(Box::pin(future));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.futures.is_empty()
    }

    /// The next result of any of them; `None` when none is left.
    pub(crate) async fn next(&mut self) -> Option<T> {
        if self.futures.is_empty() {
            return None;
        }
        poll_fn(|cx| {
            for index in 0..self.futures.len() {
                if let Poll::Ready(output) = self.futures[index].as_mut().poll(cx) {
                    drop(self.futures.swap_remove(index));
                    return Poll::Ready(Some(output));
                }
            }
            Poll::Pending
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn results_come_in_the_order_they_are_ready() {
        let mut set = Unordered::new();
        for (value, millis) in [(1, 30u64), (2, 10), (3, 20)] {
            set.push(async move {
                tokio::time::sleep(Duration::from_millis(millis)).await;
                value
            });
        }
        let mut seen = Vec::new();
        while let Some(value) = set.next().await {
            seen.push(value);
        }
        assert_eq!(seen, [2, 3, 1]);
        assert!(set.is_empty());
        assert_eq!(set.next().await, None);
    }
}
