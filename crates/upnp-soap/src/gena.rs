//! GENA eventing (UPnP Device Architecture 1.1, §4): subscribing to a service's evented state
//! variables and receiving the device's `NOTIFY` messages.
//!
//! A control point sends `SUBSCRIBE` to the service's `eventSubURL` with a `CALLBACK` URL on
//! itself; the device answers with a subscription id (`SID`) and a lease (`TIMEOUT`), sends
//! one initial event with every evented variable, and then a `NOTIFY` whenever one changes:
//! for an IGD's WAN connection service, `ExternalIPAddress` and `ConnectionStatus`. That is how
//! a UPnP-only router's new external address is learnt at once instead of at the next
//! refresh.
//!
//! - [`Subscription`]: `SUBSCRIBE`, renewal and `UNSUBSCRIBE` through the crate's
//!   [`HttpClient`] (same trust rules: only the device's address, no redirects, bounded).
//! - [`EventListener`]: the callback server. It accepts connections from the device's
//!   address only, reads each `NOTIFY` under a time bound and size caps, answers it, and
//!   hands the parsed [`Event`]s out through a channel (so waiting for one is cancel-safe).
//! - [`parse_notify_head`] and [`parse_property_set`]: the pure parsers, fuzzed.
//!
//! # Example
//!
//! ```
//! let body = br#"<?xml version="1.0"?>
//! <e:propertyset xmlns:e="urn:schemas-upnp-org:event-1-0">
//!   <e:property><ExternalIPAddress>44.0.0.9</ExternalIPAddress></e:property>
//!   <e:property><ConnectionStatus>Connected</ConnectionStatus></e:property>
//! </e:propertyset>"#;
//! let properties = upnp_soap::gena::parse_property_set(body)?;
//! assert_eq!(properties[0], ("ExternalIPAddress".to_owned(), "44.0.0.9".to_owned()));
//! # Ok::<(), upnp_soap::gena::GenaError>(())
//! ```

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use http::Method;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::Url;
use crate::http::{HttpClient, Outgoing};

/// The subscription lease asked for by default: 30 minutes (the devices choose; miniupnpd
/// grants what is asked within its bounds).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(1800);

/// The shortest lease accepted from a device; a shorter one is raised to this, so that
/// renewals never come in a tight loop.
pub const MIN_LEASE: Duration = Duration::from_secs(30);

/// The largest `NOTIFY` head (request line and headers) read.
pub const MAX_NOTIFY_HEAD: usize = 8 * 1024;

/// The largest `NOTIFY` body read.
pub const MAX_NOTIFY_BODY: usize = 64 * 1024;

/// The most properties kept from one event.
pub const MAX_PROPERTIES: usize = 64;

/// How long one `NOTIFY` connection may take, from accept to answer.
pub const NOTIFY_TIMEOUT: Duration = Duration::from_secs(3);

/// How many parsed events may wait unread before newer ones are dropped.
const QUEUE: usize = 16;

/// What went wrong subscribing or reading an event.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum GenaError {
    /// The HTTP exchange failed (connect, timeout, URL not on the device, ...).
    #[error(transparent)]
    Http(#[from] crate::Error),
    /// The device refused the subscription (or its renewal) with this status: 412 means the
    /// subscription id is unknown (it expired or the device restarted).
    #[error("the device refused the event subscription at {url} with http status {status}")]
    Refused {
        /// The event URL.
        url: Box<Url>,
        /// The status it answered.
        status: http::StatusCode,
    },
    /// The device accepted but sent no `SID` header.
    #[error("the device accepted the event subscription at {url} but sent no SID")]
    NoSid {
        /// The event URL.
        url: Box<Url>,
    },
    /// The callback server could not be set up.
    #[error("cannot listen for events on {address}: {source}")]
    Listen {
        /// The local address it tried.
        address: IpAddr,
        /// Why (shared, so that the error is `Clone`).
        source: Arc<std::io::Error>,
    },
    /// A `NOTIFY` head was not one: too long, not UTF-8, not `NOTIFY`, a bad header.
    #[error("malformed event notification: {0}")]
    MalformedNotify(&'static str),
    /// An event body was not a property set.
    #[error("malformed event property set: {0}")]
    MalformedPropertySet(String),
}

/// An event subscription at a device, renewed with [`renew`](Self::renew) and ended with
/// [`unsubscribe`](Self::unsubscribe) (or left to expire).
#[derive(Debug, Clone)]
pub struct Subscription {
    http: HttpClient,
    event_url: Url,
    sid: String,
    lease: Duration,
}

impl Subscription {
    /// Subscribes to the service whose `eventSubURL` is `event_url`, asking that events be
    /// sent to `callback` (an `http://` URL on this host, see
    /// [`EventListener::callback_url`]) for `lease`. Sent once: a second copy would open a
    /// second subscription.
    ///
    /// # Errors
    /// [`GenaError::Http`] for the exchange, [`GenaError::Refused`] for a non-2xx answer,
    /// [`GenaError::NoSid`].
    pub async fn subscribe(
        http: &HttpClient,
        event_url: &Url,
        callback: &str,
        lease: Duration,
    ) -> Result<Subscription, GenaError> {
        let outgoing = Outgoing {
            headers: vec![
                ("CALLBACK", format!("<{callback}>")),
                ("NT", "upnp:event".to_owned()),
                ("TIMEOUT", format!("Second-{}", lease.as_secs().max(1))),
            ],
            once: true,
            ..Outgoing::default()
        };
        let response = http.send(event_url, subscribe_method(), outgoing).await?;
        if !response.status.is_success() {
            return Err(GenaError::Refused {
                url: Box::new(event_url.clone()),
                status: response.status,
            });
        }
        let sid = header(&response.headers, "SID")
            .filter(|sid| !sid.is_empty() && sid.len() <= 256)
            .ok_or_else(|| GenaError::NoSid {
                url: Box::new(event_url.clone()),
            })?;
        let lease = granted_lease(header(&response.headers, "TIMEOUT").as_deref(), lease);
        tracing::debug!(%event_url, %sid, lease_s = lease.as_secs(), "subscribed to events");
        Ok(Subscription {
            http: http.clone(),
            event_url: event_url.clone(),
            sid,
            lease,
        })
    }

    /// The subscription id the device gave.
    pub fn sid(&self) -> &str {
        &self.sid
    }

    /// The lease the device granted (at least [`MIN_LEASE`]).
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// When to renew: half the granted lease.
    pub fn renew_after(&self) -> Duration {
        self.lease / 2
    }

    /// Renews the subscription for the same lease.
    ///
    /// # Errors
    /// As [`subscribe`](Self::subscribe); [`GenaError::Refused`] with 412 when the device no
    /// longer knows the id (subscribe again).
    pub async fn renew(&mut self) -> Result<(), GenaError> {
        let outgoing = Outgoing {
            headers: vec![
                ("SID", self.sid.clone()),
                ("TIMEOUT", format!("Second-{}", self.lease.as_secs().max(1))),
            ],
            once: true,
            ..Outgoing::default()
        };
        let response = self
            .http
            .send(&self.event_url, subscribe_method(), outgoing)
            .await?;
        if !response.status.is_success() {
            return Err(GenaError::Refused {
                url: Box::new(self.event_url.clone()),
                status: response.status,
            });
        }
        self.lease = granted_lease(header(&response.headers, "TIMEOUT").as_deref(), self.lease);
        Ok(())
    }

    /// Ends the subscription.
    ///
    /// # Errors
    /// As [`renew`](Self::renew).
    pub async fn unsubscribe(self) -> Result<(), GenaError> {
        let outgoing = Outgoing {
            headers: vec![("SID", self.sid.clone())],
            ..Outgoing::default()
        };
        let method = Method::from_bytes(b"UNSUBSCRIBE").unwrap_or(Method::DELETE);
        let response = self.http.send(&self.event_url, method, outgoing).await?;
        if !response.status.is_success() {
            return Err(GenaError::Refused {
                url: Box::new(self.event_url),
                status: response.status,
            });
        }
        Ok(())
    }
}

fn subscribe_method() -> Method {
    // A valid token: never fails; the fallback only keeps this free of unwrap.
    Method::from_bytes(b"SUBSCRIBE").unwrap_or(Method::POST)
}

fn header(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_owned())
}

/// The lease in a `TIMEOUT: Second-N` answer (`infinite` or missing: what was asked),
/// never under [`MIN_LEASE`].
fn granted_lease(timeout: Option<&str>, asked: Duration) -> Duration {
    let granted = timeout
        .and_then(|t| {
            let (prefix, seconds) = t.split_at_checked(7)?;
            prefix
                .eq_ignore_ascii_case("Second-")
                .then(|| seconds.trim().parse::<u64>().ok())
                .flatten()
        })
        .map_or(asked, Duration::from_secs);
    granted.clamp(MIN_LEASE, Duration::from_secs(7 * 24 * 3600))
}

/// One event from a device: its subscription id, sequence number and the variables it
/// carries, in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The `SID` of the subscription it belongs to.
    pub sid: String,
    /// The `SEQ`: 0 for the initial event, then counting up.
    pub seq: u32,
    /// The evented variables (name, value).
    pub properties: Vec<(String, String)>,
}

impl Event {
    /// The value of `name`, if the event carries it.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The parts of a `NOTIFY` head that matter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyHead {
    /// `SID`.
    pub sid: String,
    /// `SEQ` (0 when missing or unreadable).
    pub seq: u32,
    /// `Content-Length`.
    pub content_length: usize,
    /// `NT: upnp:event` and `NTS: upnp:propchange` were both present, as the spec requires.
    pub is_propchange: bool,
}

/// Parses a `NOTIFY` request head (up to and excluding the blank line).
///
/// # Errors
/// [`GenaError::MalformedNotify`] when it is not UTF-8, not a `NOTIFY`, lacks a `SID`, or
/// has no usable `Content-Length` (chunked bodies are not taken).
pub fn parse_notify_head(head: &[u8]) -> Result<NotifyHead, GenaError> {
    if head.len() > MAX_NOTIFY_HEAD {
        return Err(GenaError::MalformedNotify("head too long"));
    }
    let text = std::str::from_utf8(head).map_err(|_| GenaError::MalformedNotify("not utf-8"))?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut words = request_line.split(' ');
    if words.next() != Some("NOTIFY") {
        return Err(GenaError::MalformedNotify("not a NOTIFY request"));
    }
    let (mut sid, mut seq, mut length, mut nt, mut nts) = (None, 0, None, false, false);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            if line.is_empty() {
                continue;
            }
            return Err(GenaError::MalformedNotify("a header line without a colon"));
        };
        let value = value.trim();
        match name.trim().to_ascii_uppercase().as_str() {
            "SID" => sid = Some(value.to_owned()),
            "SEQ" => seq = value.parse().unwrap_or(0),
            "CONTENT-LENGTH" => {
                length = Some(
                    value
                        .parse::<usize>()
                        .map_err(|_| GenaError::MalformedNotify("unreadable Content-Length"))?,
                );
            }
            "NT" => nt = value.eq_ignore_ascii_case("upnp:event"),
            "NTS" => nts = value.eq_ignore_ascii_case("upnp:propchange"),
            "TRANSFER-ENCODING" => {
                return Err(GenaError::MalformedNotify(
                    "chunked bodies are not accepted",
                ));
            }
            _ => {}
        }
    }
    let sid = sid
        .filter(|s| !s.is_empty() && s.len() <= 256)
        .ok_or(GenaError::MalformedNotify("no SID"))?;
    let content_length = length.ok_or(GenaError::MalformedNotify("no Content-Length"))?;
    Ok(NotifyHead {
        sid,
        seq,
        content_length,
        is_propchange: nt && nts,
    })
}

/// Parses an event body, `<e:propertyset><e:property><Name>value</Name></e:property>...`,
/// into (name, value) pairs: at most [`MAX_PROPERTIES`], each value as text.
///
/// # Errors
/// [`GenaError::MalformedPropertySet`] when it is not XML within the crate's bounds or not
/// a property set.
pub fn parse_property_set(body: &[u8]) -> Result<Vec<(String, String)>, GenaError> {
    if body.len() > MAX_NOTIFY_BODY {
        return Err(GenaError::MalformedPropertySet(format!(
            "{} bytes, more than the {MAX_NOTIFY_BODY} allowed",
            body.len()
        )));
    }
    let root = crate::xml::parse_tolerant(body, "event property set")
        .map_err(|e| GenaError::MalformedPropertySet(e.to_string()))?;
    if root.name != "propertyset" {
        return Err(GenaError::MalformedPropertySet(format!(
            "the root element is <{}>, not <propertyset>",
            root.name
        )));
    }
    let mut properties = Vec::new();
    for property in crate::xml::children_named(&root, "property") {
        for variable in crate::xml::children(property) {
            if properties.len() == MAX_PROPERTIES {
                return Ok(properties);
            }
            properties.push((
                variable.name.clone(),
                crate::xml::text(variable).trim().to_owned(),
            ));
        }
    }
    Ok(properties)
}

/// The callback server for events from one device.
///
/// It runs as a task until dropped. Connections from any address but the device's are
/// closed at once; a `NOTIFY` from the device is answered `200 OK` when well formed, `412`
/// when it is not a property change, `400` otherwise.
#[derive(Debug)]
pub struct EventListener {
    callback: String,
    events: mpsc::Receiver<Event>,
    task: tokio::task::AbortHandle,
}

impl EventListener {
    /// Listens on `local` (the address of this host toward the device, port chosen by the
    /// system) for events sent by `publisher`.
    ///
    /// # Errors
    /// [`GenaError::Listen`] when no socket can be bound.
    pub async fn bind(local: IpAddr, publisher: IpAddr) -> Result<EventListener, GenaError> {
        let listener = TcpListener::bind(SocketAddr::new(local, 0))
            .await
            .map_err(|source| GenaError::Listen {
                address: local,
                source: Arc::new(source),
            })?;
        let bound = listener.local_addr().map_err(|source| GenaError::Listen {
            address: local,
            source: Arc::new(source),
        })?;
        let callback = match bound {
            SocketAddr::V4(a) => format!("http://{}:{}/natkit/events", a.ip(), a.port()),
            SocketAddr::V6(a) => format!("http://[{}]:{}/natkit/events", a.ip(), a.port()),
        };
        let (sender, events) = mpsc::channel(QUEUE);
        let task = tokio::spawn(serve(listener, publisher.to_canonical(), sender)).abort_handle();
        Ok(EventListener {
            callback,
            events,
            task,
        })
    }

    /// The URL to give in `SUBSCRIBE`'s `CALLBACK`.
    pub fn callback_url(&self) -> &str {
        &self.callback
    }

    /// The next event (of any subscription at the device); `None` if the server stopped.
    /// Cancel-safe.
    pub async fn next(&mut self) -> Option<Event> {
        self.events.recv().await
    }
}

impl Drop for EventListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(listener: TcpListener, publisher: IpAddr, events: mpsc::Sender<Event>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::debug!(%error, "accepting an event connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if peer.ip().to_canonical() != publisher {
            tracing::debug!(%peer, "an event connection from another host; closed");
            continue;
        }
        match tokio::time::timeout(NOTIFY_TIMEOUT, read_notify(stream)).await {
            Ok(Ok(Some(event))) => {
                if events.try_send(event).is_err() && events.is_closed() {
                    return;
                }
            }
            Ok(Ok(None)) => {}
            Ok(Err(error)) => tracing::debug!(%peer, %error, "an unusable event notification"),
            Err(_) => tracing::debug!(%peer, "an event notification took too long; dropped"),
        }
    }
}

/// Reads one request from `stream`, answers it, and returns its event if it was a
/// well-formed property change.
async fn read_notify(mut stream: TcpStream) -> Result<Option<Event>, GenaError> {
    let mut buffer = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        if buffer.len() > MAX_NOTIFY_HEAD {
            respond(&mut stream, "400 Bad Request").await;
            return Err(GenaError::MalformedNotify("head too long"));
        }
        let read = stream
            .read(&mut chunk)
            .await
            .map_err(|_| GenaError::MalformedNotify("the connection failed"))?;
        if read == 0 {
            return Err(GenaError::MalformedNotify("the connection closed early"));
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = match parse_notify_head(&buffer[..head_end]) {
        Ok(head) => head,
        Err(error) => {
            respond(&mut stream, "400 Bad Request").await;
            return Err(error);
        }
    };
    if head.content_length > MAX_NOTIFY_BODY {
        respond(&mut stream, "413 Payload Too Large").await;
        return Err(GenaError::MalformedPropertySet(format!(
            "a body of {} bytes, more than the {MAX_NOTIFY_BODY} allowed",
            head.content_length
        )));
    }
    let mut body = buffer.split_off(head_end + 4);
    while body.len() < head.content_length {
        let read = stream
            .read(&mut chunk)
            .await
            .map_err(|_| GenaError::MalformedNotify("the connection failed"))?;
        if read == 0 {
            return Err(GenaError::MalformedNotify("the body ended early"));
        }
        body.extend_from_slice(&chunk[..read]);
    }
    body.truncate(head.content_length);
    if !head.is_propchange {
        respond(&mut stream, "412 Precondition Failed").await;
        return Ok(None);
    }
    match parse_property_set(&body) {
        Ok(properties) => {
            respond(&mut stream, "200 OK").await;
            Ok(Some(Event {
                sid: head.sid,
                seq: head.seq,
                properties,
            }))
        }
        Err(error) => {
            respond(&mut stream, "400 Bad Request").await;
            Err(error)
        }
    }
}

async fn respond(stream: &mut TcpStream, status: &str) {
    let answer = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let _ = stream.write_all(answer.as_bytes()).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notify_head_is_read_with_its_sid_seq_and_length() {
        let head = b"NOTIFY /natkit/events HTTP/1.1\r\nHOST: 192.168.77.10:4000\r\nContent-Type: text/xml\r\nContent-Length: 120\r\nNT: upnp:event\r\nNTS: upnp:propchange\r\nSID: uuid:abc\r\nSEQ: 3";
        let parsed = parse_notify_head(head).expect("a head");
        assert_eq!(
            parsed,
            NotifyHead {
                sid: "uuid:abc".to_owned(),
                seq: 3,
                content_length: 120,
                is_propchange: true,
            }
        );
        let no_nts = b"NOTIFY / HTTP/1.1\r\nNT: upnp:event\r\nSID: uuid:abc\r\nContent-Length: 0";
        assert!(!parse_notify_head(no_nts).expect("a head").is_propchange);
    }

    #[test]
    fn bad_notify_heads_are_refused() {
        for head in [
            &b"GET / HTTP/1.1\r\nSID: x\r\nContent-Length: 1"[..],
            b"NOTIFY / HTTP/1.1\r\nContent-Length: 1",
            b"NOTIFY / HTTP/1.1\r\nSID: x",
            b"NOTIFY / HTTP/1.1\r\nSID: x\r\nContent-Length: -1",
            b"NOTIFY / HTTP/1.1\r\nSID: x\r\nTransfer-Encoding: chunked",
            b"NOTIFY / HTTP/1.1\r\nSID x\r\nContent-Length: 1",
            b"NOTIFY / HTTP/1.1\r\nSID: \xff\r\nContent-Length: 1",
        ] {
            assert!(
                matches!(parse_notify_head(head), Err(GenaError::MalformedNotify(_))),
                "{:?}",
                String::from_utf8_lossy(head)
            );
        }
    }

    #[test]
    fn property_sets_are_read_and_bounded() {
        let body = br#"<e:propertyset xmlns:e="urn:schemas-upnp-org:event-1-0"><e:property><ExternalIPAddress> 44.0.0.9 </ExternalIPAddress></e:property><e:property><PortMappingNumberOfEntries>2</PortMappingNumberOfEntries></e:property></e:propertyset>"#;
        let properties = parse_property_set(body).expect("a property set");
        assert_eq!(
            properties,
            vec![
                ("ExternalIPAddress".to_owned(), "44.0.0.9".to_owned()),
                ("PortMappingNumberOfEntries".to_owned(), "2".to_owned()),
            ]
        );
        let mut many = String::from("<e:propertyset xmlns:e=\"urn:schemas-upnp-org:event-1-0\">");
        for i in 0..200 {
            many.push_str(&format!("<e:property><V{i}>{i}</V{i}></e:property>"));
        }
        many.push_str("</e:propertyset>");
        assert_eq!(
            parse_property_set(many.as_bytes()).expect("a set").len(),
            MAX_PROPERTIES
        );
        assert!(parse_property_set(b"<root/>").is_err());
        assert!(parse_property_set(b"not xml").is_err());
        assert!(parse_property_set(&vec![b' '; MAX_NOTIFY_BODY + 1]).is_err());
    }

    #[test]
    fn granted_leases_are_read_and_kept_sane() {
        let asked = Duration::from_secs(1800);
        assert_eq!(
            granted_lease(Some("Second-300"), asked),
            Duration::from_secs(300)
        );
        assert_eq!(granted_lease(Some("second-5"), asked), MIN_LEASE);
        assert_eq!(granted_lease(Some("infinite"), asked), asked);
        assert_eq!(granted_lease(None, asked), asked);
        assert_eq!(granted_lease(Some("Second-x"), asked), asked);
    }

    #[tokio::test]
    async fn the_listener_takes_a_notify_from_the_publisher_and_answers_it() {
        let local: IpAddr = "127.0.0.1".parse().expect("an address");
        let mut listener = EventListener::bind(local, local).await.expect("bound");
        let url = listener.callback_url().to_owned();
        let address = url
            .trim_start_matches("http://")
            .split('/')
            .next()
            .expect("a host")
            .to_owned();
        let body = r#"<e:propertyset xmlns:e="urn:schemas-upnp-org:event-1-0"><e:property><ExternalIPAddress>44.0.0.7</ExternalIPAddress></e:property></e:propertyset>"#;
        let request = format!(
            "NOTIFY /natkit/events HTTP/1.1\r\nHOST: {address}\r\nNT: upnp:event\r\nNTS: upnp:propchange\r\nSID: uuid:1\r\nSEQ: 0\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let mut stream = TcpStream::connect(&address).await.expect("connected");
        stream.write_all(request.as_bytes()).await.expect("written");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("an answer");
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        let event = listener.next().await.expect("an event");
        assert_eq!(event.sid, "uuid:1");
        assert_eq!(event.property("ExternalIPAddress"), Some("44.0.0.7"));
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn another_hosts_notify_is_dropped_unanswered() {
        let local: IpAddr = "127.0.0.1".parse().expect("an address");
        let mut listener = EventListener::bind(local, local).await.expect("bound");
        let address: SocketAddr = listener
            .callback_url()
            .trim_start_matches("http://")
            .split('/')
            .next()
            .expect("a host")
            .parse()
            .expect("a socket address");
        // Linux routes all of 127.0.0.0/8 to the loopback: a second "host".
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket
            .bind("127.0.0.2:0".parse().expect("an address"))
            .expect("bound to another loopback address");
        let mut stream = socket.connect(address).await.expect("connected");
        let body = "<e:propertyset xmlns:e=\"urn:schemas-upnp-org:event-1-0\"><e:property><ExternalIPAddress>6.6.6.6</ExternalIPAddress></e:property></e:propertyset>";
        let request = format!(
            "NOTIFY / HTTP/1.1\r\nNT: upnp:event\r\nNTS: upnp:propchange\r\nSID: uuid:1\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(request.as_bytes()).await;
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
        let event = tokio::time::timeout(Duration::from_millis(200), listener.next()).await;
        assert!(
            event.is_err(),
            "an event from another host came through: {event:?}"
        );
    }
}
