//! [`Feed`]: the receiving end shared by a search and a listener: a channel filled by
//! background socket tasks, which are aborted when the feed is dropped or stopped.

use std::task::{Context, Poll};

use tokio::sync::mpsc;
use tokio::task::AbortHandle;

/// Items sent by socket tasks, and the tasks themselves. The channel closes, ending the
/// feed, once every task has finished (each holds a sender).
#[derive(Debug)]
pub(crate) struct Feed<T> {
    receiver: mpsc::UnboundedReceiver<T>,
    tasks: Vec<AbortHandle>,
}

impl<T> Feed<T> {
    pub(crate) fn new(receiver: mpsc::UnboundedReceiver<T>, tasks: Vec<AbortHandle>) -> Feed<T> {
        Feed { receiver, tasks }
    }

    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.receiver.poll_recv(cx)
    }

    pub(crate) async fn recv(&mut self) -> Option<T> {
        self.receiver.recv().await
    }

    /// Stops the tasks: items already received stay readable, then the feed ends.
    pub(crate) fn stop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl<T> Drop for Feed<T> {
    fn drop(&mut self) {
        self.stop();
    }
}
