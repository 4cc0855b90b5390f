//! The search: M-SEARCH requests sent from one socket per interface (and to an optional
//! unicast address), answers parsed, de-duplicated and handed out as a [`Search`] stream
//! until the scan time is over.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout_at};

use crate::error::Error;
use crate::feed::Feed;
use crate::net;
use crate::options::SearchOptions;
use crate::parse::{Response, parse_response};
use crate::{MAX_MESSAGE_SIZE, MULTICAST_V4, MULTICAST_V6, PORT};

/// The most distinct answers one search hands out; more are dropped (a flood of made-up
/// USNs must not grow memory without end). The unicast target's answers never count
/// against it: a LAN host flooding the search must not crowd the gateway out.
const MAX_RESPONSES: usize = 1024;

/// The most distinct answers one responder (one source address) gets handed out; more from
/// it are dropped and counted ([`Search::dropped`]). A real device answers a search with a
/// handful (one per target, device and service); 1,024 made-up USNs from one LAN host were
/// enough to blind a search that capped only the total.
pub const MAX_RESPONSES_PER_RESPONDER: usize = 32;

/// The most answers handed out from the unicast target (the gateway, normally).
const MAX_RESPONSES_FROM_UNICAST: usize = 256;

/// The longest one send may wait for the socket to become writable.
const SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// Consecutive receive errors after which a socket task gives up.
const MAX_RECEIVE_ERRORS: u32 = 8;

/// A running search: a [`Stream`](futures_core::Stream) of [`Response`]s, each handed out
/// the moment it arrives, duplicates (same `LOCATION` and `USN`) removed. The stream ends when
/// the scan time is over.
///
/// Dropping it stops the search at once.
#[derive(Debug)]
#[must_use = "a search stops when dropped"]
pub struct Search {
    feed: Feed<Response>,
    deadline: Instant,
    /// The sink's counts (not the sink: it holds the sender, and the stream ends when the
    /// socket tasks drop theirs).
    state: Arc<Mutex<SinkState>>,
}

/// The answers a search dropped because of its caps (see [`Search::dropped`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Answers dropped over [`MAX_RESPONSES_PER_RESPONDER`] from one responder or over the
    /// total cap.
    pub answers: usize,
    /// The responders that had answers dropped, at most 16 kept.
    pub responders: Vec<IpAddr>,
}

impl Search {
    /// The next answer, or `None` once the scan time is over (or the search was stopped).
    pub async fn next_response(&mut self) -> Option<Response> {
        self.feed.recv().await
    }

    /// Waits for the end of the scan time and returns every answer not yet taken.
    pub async fn collect_all(mut self) -> Vec<Response> {
        let mut responses = Vec::new();
        while let Some(response) = self.feed.recv().await {
            responses.push(response);
        }
        responses
    }

    /// What the caps dropped so far: a responder that floods the search is named here
    /// instead of being handed out a thousand times.
    pub fn dropped(&self) -> Dropped {
        lock(&self.state).dropped.clone()
    }

    /// When the scan time is over.
    pub fn deadline(&self) -> std::time::Instant {
        self.deadline.into_std()
    }

    /// Stops searching now: answers already received can still be taken, then the stream
    /// ends.
    pub fn stop(&mut self) {
        self.feed.stop();
    }
}

impl futures_core::Stream for Search {
    type Item = Response;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Response>> {
        self.get_mut().feed.poll_recv(cx)
    }
}

/// Searches for one target on every suitable interface (IPv4, and IPv6 where possible) for
/// `scan_time`, with every other option at its default (see [`SearchOptions`]).
///
/// # Errors
/// As [`search_with`].
pub async fn search(target: &str, scan_time: Duration) -> Result<Search, Error> {
    search_with(&SearchOptions::new(target).scan_time(scan_time)).await
}

/// Starts a search as `options` say and returns at once; answers come through the returned
/// [`Search`].
///
/// Needs a tokio runtime with the I/O and time drivers. Sends that fail on one interface
/// are logged (`tracing`) and leave the other interfaces searching; IPv6 is best effort.
///
/// # Errors
/// [`Error::InvalidOptions`] for options that cannot be sent, [`Error::Interfaces`] when the
/// interfaces cannot be listed, [`Error::NoInterface`] when there is no suitable interface
/// and no unicast address, [`Error::Socket`] when no socket at all could be opened.
pub async fn search_with(options: &SearchOptions) -> Result<Search, Error> {
    options.validate()?;
    let deadline = Instant::now() + options.scan_time;
    let endpoints = open_endpoints(options)?;

    let (sender, receiver) = mpsc::unbounded_channel();
    let sink = Arc::new(Sink {
        sender,
        preferred: options.unicast.map(|u| u.ip().to_canonical()),
        state: Arc::new(Mutex::new(SinkState::default())),
    });
    let state = Arc::clone(&sink.state);
    let schedule = Schedule {
        sends: options.sends,
        interval: options.send_interval,
        deadline,
    };
    let mx = options.mx_sent();
    let tasks = endpoints
        .into_iter()
        .map(|endpoint| {
            let requests = options
                .targets
                .iter()
                .map(|target| m_search(&endpoint.host, target, mx))
                .collect();
            tokio::spawn(run_endpoint(
                endpoint,
                requests,
                schedule,
                Arc::clone(&sink),
            ))
            .abort_handle()
        })
        .collect();
    Ok(Search {
        feed: Feed::new(receiver, tasks),
        deadline,
        state,
    })
}

/// Searches and returns the first answer as soon as it arrives, stopping the search; `None`
/// when nothing answered within the scan time.
///
/// To wait for the first answer of some kind, take answers from [`search_with`] until one
/// fits, then drop the [`Search`].
///
/// # Errors
/// As [`search_with`].
pub async fn search_first(options: &SearchOptions) -> Result<Option<Response>, Error> {
    let mut search = search_with(options).await?;
    let deadline = search.deadline;
    // The tasks end at the deadline themselves; the timeout guards against a stalled one.
    Ok(timeout_at(deadline + SEND_TIMEOUT, search.next_response())
        .await
        .ok()
        .flatten())
}

/// Encodes an M-SEARCH request. `host` is the `HOST` header (`239.255.255.250:1900`,
/// `[FF02::C]:1900` or the unicast address).
pub(crate) fn m_search(host: &str, target: &str, mx: u8) -> Vec<u8> {
    format!(
        "M-SEARCH * HTTP/1.1\r\n\
         HOST: {host}\r\n\
         MAN: \"ssdp:discover\"\r\n\
         MX: {mx}\r\n\
         ST: {target}\r\n\
         \r\n"
    )
    .into_bytes()
}

/// One socket and where its M-SEARCHes go.
#[derive(Debug)]
struct Endpoint {
    socket: UdpSocket,
    destination: SocketAddr,
    host: String,
    /// For log lines: the interface and address, or "unicast".
    label: String,
}

/// When to send and when to stop.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    sends: u8,
    interval: Duration,
    deadline: Instant,
}

/// Where the socket tasks put what they receive, and the answers seen so far.
#[derive(Debug)]
struct Sink {
    sender: mpsc::UnboundedSender<Response>,
    /// The unicast target's address: its answers have their own, larger cap.
    preferred: Option<IpAddr>,
    state: Arc<Mutex<SinkState>>,
}

/// The answers seen, counted per responder, and what was dropped.
#[derive(Debug, Default)]
struct SinkState {
    seen: HashSet<(String, Option<String>)>,
    per_responder: HashMap<IpAddr, usize>,
    /// Distinct answers from every responder but the preferred one.
    others: usize,
    dropped: Dropped,
}

impl SinkState {
    /// Whether one more distinct answer from `responder` fits the caps; counts it if so,
    /// and counts the drop if not.
    fn admit(&mut self, responder: IpAddr, preferred: bool) -> bool {
        let count = self.per_responder.get(&responder).copied().unwrap_or(0);
        let fits = if preferred {
            count < MAX_RESPONSES_FROM_UNICAST
        } else {
            count < MAX_RESPONSES_PER_RESPONDER
                && self.others < MAX_RESPONSES
                && (count > 0 || self.per_responder.len() < MAX_RESPONSES)
        };
        if fits {
            *self.per_responder.entry(responder).or_default() += 1;
            if !preferred {
                self.others += 1;
            }
        } else {
            self.dropped.answers += 1;
            if self.dropped.responders.len() < 16 && !self.dropped.responders.contains(&responder) {
                self.dropped.responders.push(responder);
            }
        }
        fits
    }
}

impl Sink {
    /// Parses, de-duplicates and forwards one datagram. False once nobody listens.
    fn accept(&self, datagram: &[u8], source: SocketAddr, label: &str) -> bool {
        if datagram.len() > MAX_MESSAGE_SIZE {
            tracing::trace!(%source, via = label, "dropping an ssdp datagram over {MAX_MESSAGE_SIZE} bytes");
            return true;
        }
        let mut response = match parse_response(datagram) {
            Ok(response) => response,
            Err(error) => {
                tracing::trace!(%source, via = label, %error, "dropping an ssdp datagram");
                return true;
            }
        };
        response.source = source;
        {
            let mut state = lock(&self.state);
            let key = (response.location.clone(), response.usn.clone());
            if state.seen.contains(&key) {
                tracing::trace!(%source, via = label, location = %response.location, "duplicate ssdp response");
                return true;
            }
            let responder = source.ip().to_canonical();
            if !state.admit(responder, self.preferred == Some(responder)) {
                tracing::trace!(%source, via = label, "dropping an ssdp response over the caps");
                return true;
            }
            state.seen.insert(key);
        }
        tracing::debug!(%source, via = label, location = %response.location, st = %response.st, "ssdp response");
        self.sender.send(response).is_ok()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The set stays consistent even if a holder panicked: inserting is its only change.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Opens a socket per suitable interface (and for the unicast address).
fn open_endpoints(options: &SearchOptions) -> Result<Vec<Endpoint>, Error> {
    let mut endpoints = Vec::new();
    let mut first_error = None;
    if options.multicast {
        let (links_v4, links_v6) = net::suitable_links(options.interfaces.as_deref())?;
        for link in links_v4 {
            match net::search_socket_v4(link.address) {
                Ok(socket) => endpoints.push(Endpoint {
                    socket,
                    destination: SocketAddrV4::new(MULTICAST_V4, PORT).into(),
                    host: format!("{MULTICAST_V4}:{PORT}"),
                    label: format!("{} {}", link.name, link.address),
                }),
                Err(source) => {
                    tracing::warn!(interface = %link.name, address = %link.address, error = %source, "cannot open an ssdp search socket");
                    first_error.get_or_insert(Error::Socket {
                        address: SocketAddrV4::new(link.address, 0).into(),
                        source,
                    });
                }
            }
        }
        if endpoints.is_empty() && options.unicast.is_none() {
            return Err(first_error.unwrap_or(Error::NoInterface));
        }
        if options.ipv6 {
            for link in links_v6 {
                match net::search_socket_v6(&link) {
                    Ok(socket) => endpoints.push(Endpoint {
                        socket,
                        destination: SocketAddrV6::new(MULTICAST_V6, PORT, 0, link.index).into(),
                        host: MULTICAST_V6_HOST.to_owned(),
                        label: format!("{} {}", link.name, link.address),
                    }),
                    Err(error) => {
                        tracing::debug!(interface = %link.name, %error, "cannot open an ipv6 ssdp search socket");
                    }
                }
            }
        }
    }
    if let Some(target) = options.unicast {
        match net::unicast_socket(target) {
            Ok(socket) => endpoints.push(Endpoint {
                socket,
                destination: target,
                host: target.to_string(),
                label: format!("unicast {target}"),
            }),
            Err(source) => {
                tracing::warn!(%target, error = %source, "cannot open an ssdp unicast socket");
                if endpoints.is_empty() {
                    return Err(Error::Socket {
                        address: net::unicast_local_address(target),
                        source,
                    });
                }
            }
        }
    }
    Ok(endpoints)
}

/// [`MULTICAST_V6`] as the UPnP Device Architecture writes it in `HOST` headers.
const MULTICAST_V6_HOST: &str = "[FF02::C]:1900";

/// Sends the M-SEARCHes on schedule and receives answers until the deadline.
async fn run_endpoint(
    endpoint: Endpoint,
    requests: Vec<Vec<u8>>,
    schedule: Schedule,
    sink: Arc<Sink>,
) {
    let mut buffer = vec![0; MAX_MESSAGE_SIZE + 1];
    let mut next_send = Instant::now();
    let mut sends_left = schedule.sends;
    let mut sent = 0u8;
    // Past the first two sends, an M-SEARCH is sent again only while nothing answered
    // (on a lossy link the search or every answer may be lost).
    let mut answered = false;
    let mut receive_errors = 0;
    loop {
        tokio::select! {
            biased;
            () = sleep_until(schedule.deadline) => break,
            () = sink.sender.closed() => break,
            () = sleep_until(next_send), if sends_left > 0 && (sent < 2 || !answered) => {
                send_all(&endpoint, &requests, schedule.deadline).await;
                sends_left -= 1;
                sent = sent.saturating_add(1);
                next_send += schedule.interval;
            }
            received = endpoint.socket.recv_from(&mut buffer) => match received {
                Ok((len, source)) => {
                    receive_errors = 0;
                    answered = true;
                    if !sink.accept(&buffer[..len], source, &endpoint.label) {
                        break;
                    }
                }
                // An M-SEARCH answered by ICMP port unreachable: no SSDP listener at that
                // destination. A unicast search has nothing more to wait for; a multicast
                // one goes on (the message came from one host of many), and neither
                // counts it as the socket failing.
                Err(error) if crate::net::is_port_unreachable(&error) => {
                    tracing::debug!(via = %endpoint.label, %error, "m-search refused: port unreachable");
                    if !endpoint.destination.ip().is_multicast() {
                        break;
                    }
                }
                Err(error) => {
                    tracing::debug!(via = %endpoint.label, %error, "ssdp receive failed");
                    receive_errors += 1;
                    if receive_errors >= MAX_RECEIVE_ERRORS {
                        break;
                    }
                }
            },
        }
    }
}

async fn send_all(endpoint: &Endpoint, requests: &[Vec<u8>], deadline: Instant) {
    for request in requests {
        let give_up = deadline.min(Instant::now() + SEND_TIMEOUT);
        match timeout_at(
            give_up,
            endpoint.socket.send_to(request, endpoint.destination),
        )
        .await
        {
            Ok(Ok(_)) => {
                tracing::debug!(via = %endpoint.label, to = %endpoint.destination, "m-search sent");
            }
            Ok(Err(error)) => {
                tracing::debug!(via = %endpoint.label, to = %endpoint.destination, %error, "m-search not sent");
            }
            Err(_) => {
                tracing::debug!(via = %endpoint.label, to = %endpoint.destination, "m-search send timed out");
            }
        }
    }
}

#[cfg(test)]
mod tests;
