//! The NOTIFY listener: port 1900 (shared with other SSDP programs), the multicast group
//! joined on every suitable interface, NOTIFY messages handed out as a [`NotifyListener`]
//! stream.

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

use crate::MAX_MESSAGE_SIZE;
use crate::error::Error;
use crate::feed::Feed;
use crate::net;
use crate::options::ListenOptions;
use crate::parse::{Notify, parse_notify};

/// Consecutive receive errors after which a listening socket gives up.
const MAX_RECEIVE_ERRORS: u32 = 8;

/// A running NOTIFY listener: a [`Stream`](futures_core::Stream) of [`Notify`] messages
/// (`ssdp:alive`, `ssdp:byebye`, `ssdp:update`) in the order they arrive, repeats included
/// (an alive repeated is a device renewing its announcement).
///
/// The stream ends after [`ListenOptions::listen_time`], if set. Dropping the listener
/// stops it.
#[derive(Debug)]
#[must_use = "a listener stops when dropped"]
pub struct NotifyListener {
    feed: Feed<Notify>,
}

impl NotifyListener {
    /// The next message, or `None` once the listen time is over (or the listener was
    /// stopped).
    pub async fn next_notify(&mut self) -> Option<Notify> {
        self.feed.recv().await
    }

    /// Stops listening: messages already received can still be taken, then the stream ends.
    pub fn stop(&mut self) {
        self.feed.stop();
    }
}

impl futures_core::Stream for NotifyListener {
    type Item = Notify;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Notify>> {
        self.get_mut().feed.poll_recv(cx)
    }
}

/// Starts listening for NOTIFY messages on `239.255.255.250:1900` on every suitable
/// interface (and on `[ff02::c]:1900` where possible, best effort).
///
/// The port is opened with `SO_REUSEADDR` and `SO_REUSEPORT`, so the listener coexists with
/// other SSDP programs on the host. Needs a tokio runtime with the I/O and time drivers.
///
/// # Errors
/// [`Error::Interfaces`] when the interfaces cannot be listed, [`Error::NoInterface`]
/// without a suitable interface, [`Error::Socket`] when port 1900 cannot be bound,
/// [`Error::Join`] when the group could be joined on no interface.
pub async fn listen(options: &ListenOptions) -> Result<NotifyListener, Error> {
    let (links_v4, links_v6) = net::suitable_links(options.interfaces.as_deref())?;
    let mut sockets = Vec::new();
    if !links_v4.is_empty() {
        sockets.push(net::listen_socket_v4(&links_v4)?);
    }
    if options.ipv6 && !links_v6.is_empty() {
        sockets.extend(net::listen_socket_v6(&links_v6));
    }
    if sockets.is_empty() {
        return Err(Error::NoInterface);
    }
    let deadline = options.listen_time.map(|time| Instant::now() + time);
    let (sender, receiver) = mpsc::unbounded_channel();
    let tasks = sockets
        .into_iter()
        .map(|socket| tokio::spawn(run_listener(socket, sender.clone(), deadline)).abort_handle())
        .collect();
    Ok(NotifyListener {
        feed: Feed::new(receiver, tasks),
    })
}

/// Receives until the deadline (if any) or until nobody listens.
async fn run_listener(
    socket: UdpSocket,
    sender: mpsc::UnboundedSender<Notify>,
    deadline: Option<Instant>,
) {
    let mut buffer = vec![0; MAX_MESSAGE_SIZE + 1];
    let mut receive_errors = 0;
    let local = socket.local_addr().ok();
    let end = async move {
        match deadline {
            Some(deadline) => sleep_until(deadline).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(end);
    loop {
        tokio::select! {
            biased;
            () = &mut end => break,
            () = sender.closed() => break,
            received = socket.recv_from(&mut buffer) => match received {
                Ok((len, source)) => {
                    receive_errors = 0;
                    if let Some(notify) = accept(&buffer[..len], source) {
                        if sender.send(notify).is_err() {
                            break;
                        }
                    }
                }
                Err(error) => {
                    tracing::debug!(?local, %error, "ssdp notify receive failed");
                    receive_errors += 1;
                    if receive_errors >= MAX_RECEIVE_ERRORS {
                        break;
                    }
                }
            },
        }
    }
}

fn accept(datagram: &[u8], source: SocketAddr) -> Option<Notify> {
    if datagram.len() > MAX_MESSAGE_SIZE {
        tracing::trace!(%source, "dropping an ssdp datagram over {MAX_MESSAGE_SIZE} bytes");
        return None;
    }
    match parse_notify(datagram) {
        Ok(mut notify) => {
            notify.source = source;
            tracing::debug!(%source, nts = %notify.nts, nt = %notify.nt, "ssdp notify");
            Some(notify)
        }
        Err(error) => {
            // M-SEARCHes from other hosts arrive here too.
            tracing::trace!(%source, %error, "dropping an ssdp datagram");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::NotificationSubType;

    #[test]
    fn accepts_notifies_and_drops_the_rest() {
        let source: SocketAddr = "127.0.0.1:1900".parse().expect("address");
        let alive = include_bytes!("../testdata/miniupnpd_notify_alive.bin");
        let notify = accept(alive, source).expect("accepted");
        assert_eq!(notify.source, source);
        assert_eq!(notify.nts, NotificationSubType::Alive);
        assert!(accept(b"M-SEARCH * HTTP/1.1\r\nST: ssdp:all\r\n\r\n", source).is_none());
        assert!(accept(&vec![b'N'; MAX_MESSAGE_SIZE + 1], source).is_none());
    }
}
