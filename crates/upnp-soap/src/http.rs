//! The HTTP/1.1 client: one hyper 1 connection per request over a TCP stream connected with
//! a timeout, only to the address that answered the search, only `http://`, never
//! following redirects, with the whole exchange under a timeout and the body under a cap
//! enforced while reading.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST, LOCATION, USER_AGENT};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full, LengthLimitError, Limited};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::error::{Error, Result};
use crate::{Url, UrlError, check_router_url, request_target};

/// The `User-Agent` sent with every request (UDA 1.1 asks for OS, UPnP and product tokens).
const USER_AGENT_VALUE: &str = concat!("Linux UPnP/1.1 upnp-soap/", env!("CARGO_PKG_VERSION"));

/// How long a TCP connect may take before a second one is started beside it: a lost SYN
/// is otherwise sent again only after the kernel's 1 s retransmission timeout.
const HEDGE_AFTER: Duration = Duration::from_millis(300);

/// How long an HTTP exchange may go unanswered before the same request is sent again beside
/// it; routers answer in milliseconds, so this fires on lossy links, not on healthy ones.
const HEDGE_EXCHANGE: Duration = Duration::from_millis(700);

/// The largest response head (status line and headers) accepted.
const MAX_HEAD_SIZE: usize = 64 * 1024;

/// Timeouts and limits of the HTTP client, and the bounds of the operations built on it.
///
/// Three bounds nest: [`timeout`](Self::timeout) bounds one HTTP exchange,
/// [`operation_timeout`](Self::operation_timeout) bounds one IGD operation however many
/// exchanges it takes (a mapping after conflicts, a table listing, choosing among WAN
/// connection services), and [`deadline`](Self::deadline) is an absolute end no exchange
/// outlives (a command-line tool sets it once from its `--timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// How long to wait for the TCP connection (default 3 s).
    pub connect_timeout: Duration,
    /// How long the whole exchange may take once connected: request, response head and
    /// body (default 10 s).
    pub timeout: Duration,
    /// The largest response body read (default 1 MiB); a larger one is an error, found
    /// while reading.
    pub max_body_size: usize,
    /// How long one operation of [`igd::Gateway`](crate::igd::Gateway) may take in all,
    /// every exchange and retry included; `None` (the default) uses [`timeout`](Self::timeout).
    pub operation_timeout: Option<Duration>,
    /// An absolute end: no exchange is started after it, and none runs past it (default
    /// none).
    pub deadline: Option<Instant>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            connect_timeout: Duration::from_secs(3),
            timeout: Duration::from_secs(10),
            max_body_size: 1 << 20,
            operation_timeout: None,
            deadline: None,
        }
    }
}

impl Config {
    /// Sets [`operation_timeout`](Self::operation_timeout).
    pub fn with_operation_timeout(mut self, timeout: Duration) -> Config {
        self.operation_timeout = Some(timeout);
        self
    }

    /// Sets [`deadline`](Self::deadline).
    pub fn with_deadline(mut self, deadline: Instant) -> Config {
        self.deadline = Some(deadline);
        self
    }

    /// The bound of one operation: [`operation_timeout`](Self::operation_timeout) (or
    /// [`timeout`](Self::timeout)), cut short by the [`deadline`](Self::deadline).
    pub fn operation_bound(&self) -> Duration {
        let bound = self.operation_timeout.unwrap_or(self.timeout);
        match self.deadline {
            Some(deadline) => bound.min(deadline.saturating_duration_since(Instant::now())),
            None => bound,
        }
    }

    /// `bound` cut short by the deadline, if any.
    fn within_deadline(&self, bound: Duration) -> Duration {
        match self.deadline {
            Some(deadline) => bound.min(deadline.saturating_duration_since(Instant::now())),
            None => bound,
        }
    }
}

/// An HTTP client pinned to one device: the address that answered the SSDP search.
///
/// Every URL is checked before anything is sent: `http://` only, and its host must be that
/// address written as an IP literal (a host name could resolve anywhere).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpClient {
    responder: IpAddr,
    config: Config,
}

/// A response: its status and body.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: StatusCode,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: Bytes,
}

/// What one exchange sends besides its method and URL.
#[derive(Debug, Clone, Default)]
pub(crate) struct Outgoing<'a> {
    /// A SOAP action and its envelope.
    pub(crate) soap: Option<(&'a str, String)>,
    /// More headers (GENA's `CALLBACK`, `NT`, `SID`, `TIMEOUT`).
    pub(crate) headers: Vec<(&'static str, String)>,
    /// Whether the request may be sent twice (a hedge or a retry): false for a GENA
    /// subscription, which a second copy would duplicate.
    pub(crate) once: bool,
}

impl HttpClient {
    /// A client that only talks to `responder`.
    pub fn new(responder: IpAddr, config: Config) -> HttpClient {
        HttpClient { responder, config }
    }

    /// The address that answered the search, the only one this client talks to.
    pub fn responder(&self) -> IpAddr {
        self.responder
    }

    /// The timeouts and limits.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The same client under other timeouts and limits: discovery fetches under a deadline
    /// of its own and hands its clients back under the caller's configuration, so no later
    /// operation inherits the search's deadline.
    pub fn with_config(mut self, config: Config) -> HttpClient {
        self.config = config;
        self
    }

    /// Checks that `url` may be fetched and returns the socket address to connect to.
    ///
    /// # Errors
    /// [`Error::UnsupportedScheme`] for anything but `http`, [`Error::OffHost`] when the
    /// host is not the responder's address (host names included).
    pub fn check_url(&self, url: &Url) -> Result<SocketAddr> {
        check_router_url(url, self.responder).map_err(|e| match e {
            UrlError::NotHttp { .. } => Error::UnsupportedScheme {
                url: Box::new(url.clone()),
            },
            _ => Error::OffHost {
                url: Box::new(url.clone()),
                responder: self.responder,
            },
        })
    }

    /// Fetches `url` (a description or SCPD) and returns the body of a 2xx response.
    ///
    /// # Errors
    /// The URL checks of [`check_url`](Self::check_url); [`Error::Connect`],
    /// [`Error::ConnectTimeout`], [`Error::Timeout`], [`Error::Http`],
    /// [`Error::BodyTooLarge`], [`Error::Redirect`] and [`Error::Status`].
    pub async fn get(&self, url: &Url) -> Result<Bytes> {
        let response = self.exchange(url, Method::GET, Outgoing::default()).await?;
        if !response.status.is_success() {
            return Err(Error::Status {
                url: Box::new(url.clone()),
                status: response.status,
            });
        }
        Ok(response.body)
    }

    /// Posts a SOAP request and returns the response whatever its status (a SOAP fault
    /// comes with status 500); redirects are still errors.
    pub(crate) async fn post_soap(
        &self,
        url: &Url,
        soap_action: &str,
        body: String,
    ) -> Result<Response> {
        let outgoing = Outgoing {
            soap: Some((soap_action, body)),
            ..Outgoing::default()
        };
        self.exchange(url, Method::POST, outgoing).await
    }

    /// Sends a request with `outgoing`'s headers and returns the response whatever its
    /// status (GENA's SUBSCRIBE and UNSUBSCRIBE).
    pub(crate) async fn send(
        &self,
        url: &Url,
        method: Method,
        outgoing: Outgoing<'_>,
    ) -> Result<Response> {
        self.exchange(url, method, outgoing).await
    }

    /// One exchange, tried a second time (after 50 ms) when the device reset or closed the
    /// connection before answering: embedded HTTP servers (miniupnpd among them, seen in the
    /// lab under load) sometimes drop a connection they accepted. Every request this crate
    /// sends is a description fetch or an IGD action that is safe to repeat.
    async fn exchange(&self, url: &Url, method: Method, soap: Outgoing<'_>) -> Result<Response> {
        if soap.once {
            return self.exchange_once(url, method, soap).await;
        }
        // An exchange still unanswered after HEDGE_EXCHANGE gets a second one beside it on a
        // fresh connection (every request here is safe to repeat): on a lossy link a lost
        // segment otherwise waits out TCP's growing retransmission timeouts.
        let first = self.exchange_retrying(url, method.clone(), soap.clone());
        tokio::pin!(first);
        tokio::select! {
            result = &mut first => return result,
            () = tokio::time::sleep(HEDGE_EXCHANGE) => {}
        }
        tracing::debug!(%url, "no answer yet; sending the request a second time beside the first");
        let second = self.exchange_retrying(url, method, soap);
        tokio::pin!(second);
        tokio::select! {
            result = &mut first => match result {
                Ok(response) => Ok(response),
                Err(_) => second.await,
            },
            result = &mut second => match result {
                Ok(response) => Ok(response),
                Err(_) => first.await,
            },
        }
    }

    async fn exchange_retrying(
        &self,
        url: &Url,
        method: Method,
        soap: Outgoing<'_>,
    ) -> Result<Response> {
        match self.exchange_once(url, method.clone(), soap.clone()).await {
            Err(error) if is_dropped_connection(&error) => {
                tracing::debug!(%url, %error, "the device dropped the connection; trying once more");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                self.exchange_once(url, method, soap).await
            }
            other => other,
        }
    }

    async fn exchange_once(
        &self,
        url: &Url,
        method: Method,
        soap: Outgoing<'_>,
    ) -> Result<Response> {
        let address = self.check_url(url)?;
        let connect_timeout = self.config.within_deadline(self.config.connect_timeout);
        if connect_timeout.is_zero() {
            return Err(Error::DeadlinePassed {
                url: Box::new(url.clone()),
            });
        }
        let stream = match tokio::time::timeout(connect_timeout, connect_hedged(address)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(source)) => {
                return Err(Error::Connect {
                    url: Box::new(url.clone()),
                    source: Arc::new(source),
                });
            }
            Err(_) => {
                return Err(Error::ConnectTimeout {
                    url: Box::new(url.clone()),
                    timeout: connect_timeout,
                });
            }
        };
        let _ = stream.set_nodelay(true);
        let timeout = self.config.within_deadline(self.config.timeout);
        match tokio::time::timeout(timeout, self.exchange_on(stream, url, method, soap)).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout {
                url: Box::new(url.clone()),
                timeout,
            }),
        }
    }

    async fn exchange_on(
        &self,
        stream: TcpStream,
        url: &Url,
        method: Method,
        outgoing: Outgoing<'_>,
    ) -> Result<Response> {
        let http_error = |source| Error::Http {
            url: Box::new(url.clone()),
            source: Arc::new(source),
        };
        let answered = Arc::new(AtomicBool::new(false));
        let stream = ResetIfUnanswered {
            stream,
            answered: Arc::clone(&answered),
        };
        let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
            .title_case_headers(true)
            // Router HTTP servers are often sloppy; tolerate what hyper can.
            .allow_spaces_after_header_name_in_responses(true)
            .allow_obsolete_multiline_headers_in_responses(true)
            .ignore_invalid_headers_in_responses(true)
            .max_buf_size(MAX_HEAD_SIZE.max(8192))
            .handshake::<_, Full<Bytes>>(TokioIo::new(SoapActionCase::new(stream)))
            .await
            .map_err(http_error)?;
        // The connection must be driven while the request and body are exchanged; the guard
        // stops it when this future ends or is dropped (on timeout).
        let _driver = AbortOnDrop(tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::trace!(error = %e, "http connection ended with an error");
            }
        }));

        // `check_url` passed, so there is a host (an IP literal).
        let host_str = url.host_str().unwrap_or_default();
        let host = match url.port() {
            Some(port) => format!("{host_str}:{port}"),
            None => host_str.to_owned(),
        };
        let target = request_target(url);
        let mut request = Request::builder()
            .method(method.clone())
            .uri(if target.is_empty() { "/" } else { target })
            .header(HOST, host)
            .header(USER_AGENT, USER_AGENT_VALUE)
            .header(CONNECTION, "close");
        for (name, value) in outgoing.headers {
            request = request.header(name, value);
        }
        let body = match outgoing.soap {
            Some((soap_action, body)) => {
                request = request
                    .header(CONTENT_TYPE, crate::soap::CONTENT_TYPE)
                    .header("SOAPAction", soap_action)
                    .header(CONTENT_LENGTH, body.len());
                Bytes::from(body)
            }
            None => Bytes::new(),
        };
        let request = request
            .body(Full::new(body))
            .map_err(|e| Error::InvalidUrl {
                url: url.to_string(),
                reason: e.to_string(),
            })?;
        tracing::debug!(%method, %url, "upnp http request");
        let response = sender.send_request(request).await.map_err(http_error)?;
        // The device has read the request and acted on it: the connection may end cleanly.
        answered.store(true, Ordering::Relaxed);
        let status = response.status();
        let headers = response.headers().clone();
        if status.is_redirection() {
            return Err(Error::Redirect {
                url: Box::new(url.clone()),
                status,
                location: response
                    .headers()
                    .get(LOCATION)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
            });
        }
        let limit = self.config.max_body_size;
        let too_large = || Error::BodyTooLarge {
            url: Box::new(url.clone()),
            limit,
        };
        let announced = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if announced.is_some_and(|length| length > limit as u64) {
            return Err(too_large());
        }
        let body = Limited::new(response.into_body(), limit)
            .collect()
            .await
            .map_err(|e| match e.downcast::<hyper::Error>() {
                // Once the head is in, a failure is the body's (a connection closed short
                // of the announced length): say so, not "the exchange failed".
                Ok(source) => Error::Body {
                    url: Box::new(url.clone()),
                    reason: match announced {
                        Some(length) => format!("{source}, short of the {length} bytes announced"),
                        None => source.to_string(),
                    },
                },
                Err(e) if e.is::<LengthLimitError>() => too_large(),
                Err(e) => Error::Body {
                    url: Box::new(url.clone()),
                    reason: e.to_string(),
                },
            })?
            .to_bytes();
        tracing::debug!(%url, %status, bytes = body.len(), "upnp http response");
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

/// Connects to `address`; when that has not succeeded after [`HEDGE_AFTER`], a second
/// connect starts beside the first and whichever succeeds first wins (the other is
/// dropped). One failure still waits for the other.
async fn connect_hedged(address: SocketAddr) -> io::Result<TcpStream> {
    let first = TcpStream::connect(address);
    tokio::pin!(first);
    tokio::select! {
        result = &mut first => return result,
        () = tokio::time::sleep(HEDGE_AFTER) => {}
    }
    tracing::debug!(%address, "no connection yet; connecting a second time beside the first");
    let second = TcpStream::connect(address);
    tokio::pin!(second);
    tokio::select! {
        result = &mut first => match result {
            Ok(stream) => Ok(stream),
            Err(_) => second.await,
        },
        result = &mut second => match result {
            Ok(stream) => Ok(stream),
            Err(_) => first.await,
        },
    }
}

/// Whether `error` is a connection the device reset or closed before any answer.
fn is_dropped_connection(error: &Error) -> bool {
    use std::error::Error as _;
    let Error::Http { source, .. } = error else {
        return false;
    };
    if source.is_incomplete_message() {
        return true;
    }
    let mut cause = source.source();
    while let Some(inner) = cause {
        if let Some(io) = inner.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
            );
        }
        cause = inner.source();
    }
    false
}

/// The header name as hyper writes it with title case.
const TITLE_CASE_NAME: &[u8] = b"\r\nSoapaction:";
/// The header name as the UPnP Device Architecture spells it.
const SPEC_NAME: &[u8] = b"\r\nSOAPAction:";

/// A stream that writes the `SOAPAction` header name as the UPnP Device Architecture spells
/// it. hyper writes header names in title case (`Soapaction`) or lower case, and some routers
/// (a Linksys WRT120N answering 501, others serving a login page) match the name exactly.
/// The rewrite changes letters only, never lengths, and only in the request head.
#[derive(Debug)]
struct SoapActionCase<S> {
    inner: S,
    /// How many bytes of a header name a short write left half-written.
    carried: usize,
    /// The head (up to the blank line) has been written.
    head_done: bool,
}

impl<S> SoapActionCase<S> {
    fn new(inner: S) -> SoapActionCase<S> {
        SoapActionCase {
            inner,
            carried: 0,
            head_done: false,
        }
    }

    /// The bytes to write for `buf` (rewritten where needed) and how many of them may go
    /// out now (a name cut by the end of `buf` waits for the next write).
    fn rewrite(&self, buf: &[u8]) -> (Vec<u8>, usize) {
        let mut out = buf.to_vec();
        let mut limit = out.len();
        if self.carried > 0 {
            let rest = &TITLE_CASE_NAME[self.carried..];
            if out.starts_with(rest) {
                out[..rest.len()].copy_from_slice(&SPEC_NAME[self.carried..]);
            }
        }
        let head_end = find(&out, b"\r\n\r\n").map_or(out.len(), |p| p + 2);
        let mut from = 0;
        while let Some(p) = find(&out[from..head_end], TITLE_CASE_NAME) {
            let at = from + p;
            out[at..at + SPEC_NAME.len()].copy_from_slice(SPEC_NAME);
            from = at + SPEC_NAME.len();
        }
        if head_end == out.len() {
            for cut in (1..TITLE_CASE_NAME.len()).rev() {
                if out.len() > cut && out.ends_with(&TITLE_CASE_NAME[..cut]) {
                    limit = out.len() - cut;
                    break;
                }
            }
        }
        (out, limit)
    }

    /// Updates the state after `written` bytes of `out` went out.
    fn wrote(&mut self, out: &[u8], written: usize) {
        let sent = &out[..written];
        if find(sent, b"\r\n\r\n").is_some() {
            self.head_done = true;
        }
        self.carried = (1..SPEC_NAME.len())
            .rev()
            .find(|&cut| sent.ends_with(&SPEC_NAME[..cut]))
            .unwrap_or(0);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl<S: AsyncRead + Unpin> AsyncRead for SoapActionCase<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for SoapActionCase<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.head_done {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        }
        let (out, limit) = this.rewrite(buf);
        match Pin::new(&mut this.inner).poll_write(cx, &out[..limit]) {
            Poll::Ready(Ok(written)) => {
                this.wrote(&out, written);
                Poll::Ready(Ok(written))
            }
            other => other,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// A connection that is reset, not closed, when it is dropped before the device answered
/// (the exchange timed out, or a hedged copy answered first).
///
/// A closed connection would still deliver its request: a device whose accept queue
/// overflowed keeps the connection half-open and reads the request seconds later, after
/// requests sent since (a `DeletePortMapping` at a program's stop), so an abandoned
/// `AddPortMapping` would make a mapping that nobody holds and nobody deletes. A reset
/// discards the half-open connection at the device, request and all.
struct ResetIfUnanswered {
    stream: TcpStream,
    /// Set once the response head arrived.
    answered: Arc<AtomicBool>,
}

impl Drop for ResetIfUnanswered {
    fn drop(&mut self) {
        if self.answered.load(Ordering::Relaxed) {
            return;
        }
        match self.stream.set_zero_linger() {
            Ok(()) => tracing::debug!(
                peer = ?self.stream.peer_addr().ok(),
                "resetting a connection abandoned before its answer"
            ),
            Err(error) => {
                tracing::debug!(%error, "could not set up the reset of an abandoned connection");
            }
        }
    }
}

impl AsyncRead for ResetIfUnanswered {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResetIfUnanswered {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// Aborts a spawned task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_url;
    use std::net::Ipv4Addr;

    fn client() -> HttpClient {
        HttpClient::new(
            IpAddr::V4(Ipv4Addr::new(192, 168, 77, 1)),
            Config::default(),
        )
    }

    /// A loopback server on the port returned that reads one request, answers it when
    /// `answer` is set, then reports how the client's side of the connection ended.
    async fn serve_once(answer: bool) -> (u16, tokio::task::JoinHandle<io::Result<usize>>) {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        (port, tokio::spawn(read_one(listener, answer)))
    }

    async fn read_one(listener: tokio::net::TcpListener, answer: bool) -> io::Result<usize> {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let (mut stream, _) = listener.accept().await?;
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        while find(&request, b"\r\n\r\n").is_none() {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                return Ok(0);
            }
            request.extend_from_slice(&buf[..n]);
        }
        if answer {
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                .await?;
        }
        // What follows the request: a clean end (0), or the reset of an abandoned exchange.
        stream.read(&mut buf).await
    }

    #[tokio::test]
    async fn an_exchange_abandoned_before_its_answer_resets_the_connection() {
        let (port, server) = serve_once(false).await;
        let client = HttpClient::new(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            Config {
                timeout: Duration::from_millis(300),
                ..Config::default()
            },
        );
        let url = parse_url(&format!("http://127.0.0.1:{port}/ctl")).unwrap();
        let result = client.get(&url).await;
        assert!(matches!(result, Err(Error::Timeout { .. })), "{result:?}");
        let ended = tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .unwrap()
            .unwrap();
        // Wine closes a socket with a zero linger with a FIN where Windows resets it
        // (docs/WINDOWS.md): under Wine the connection only has to end.
        if cfg!(windows) {
            assert!(matches!(&ended, Ok(0)) || ended.is_err(), "{ended:?}");
        } else {
            assert_eq!(
                ended.map_err(|e| e.kind()),
                Err(io::ErrorKind::ConnectionReset)
            );
        }
    }

    #[tokio::test]
    async fn an_answered_exchange_ends_its_connection_cleanly() {
        let (port, server) = serve_once(true).await;
        let client = HttpClient::new(IpAddr::V4(Ipv4Addr::LOCALHOST), Config::default());
        let url = parse_url(&format!("http://127.0.0.1:{port}/ctl")).unwrap();
        assert_eq!(client.get(&url).await.unwrap(), Bytes::from_static(b"ok"));
        let ended = tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ended.unwrap(), 0);
    }

    #[test]
    fn only_http_urls_on_the_responder_pass() {
        let client = client();
        let ok = parse_url("http://192.168.77.1:5000/rootDesc.xml").unwrap();
        assert_eq!(
            client.check_url(&ok).unwrap(),
            "192.168.77.1:5000".parse().unwrap()
        );
        let default_port = parse_url("http://192.168.77.1/x").unwrap();
        assert_eq!(client.check_url(&default_port).unwrap().port(), 80);
        for (url, scheme) in [
            ("https://192.168.77.1:5000/x", true),
            ("ftp://192.168.77.1/x", true),
            ("http://192.168.77.2:5000/x", false),
            ("http://router.local:5000/x", false),
            ("http://[::1]:5000/x", false),
        ] {
            let url = parse_url(url).unwrap();
            match client.check_url(&url) {
                Err(Error::UnsupportedScheme { .. }) if scheme => {}
                Err(e @ Error::OffHost { .. }) if !scheme => {
                    let message = e.to_string();
                    assert!(
                        message.contains(url.as_str()) && message.contains("192.168.77.1"),
                        "{message}"
                    );
                }
                other => panic!("{url}: {other:?}"),
            }
        }
    }

    #[test]
    fn soap_action_is_spelled_as_the_spec_spells_it() {
        let head =
            b"POST /ctl HTTP/1.1\r\nHost: a\r\nSoapaction: \"urn:x#A\"\r\n\r\n\r\nSoapaction: body";
        let writer = SoapActionCase::new(());
        let (out, limit) = writer.rewrite(head);
        assert_eq!(limit, head.len());
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("\r\nSOAPAction: \"urn:x#A\""), "{text}");
        assert!(
            text.ends_with("\r\nSoapaction: body"),
            "the body is untouched: {text}"
        );
    }

    #[test]
    fn a_header_name_cut_by_a_short_write_is_still_rewritten() {
        let head = b"POST / HTTP/1.1\r\nSoapaction: x\r\n\r\n";
        for cut in 1..head.len() {
            let mut writer = SoapActionCase::new(());
            let mut sent = Vec::new();
            let mut rest: &[u8] = head;
            let mut first = true;
            while !rest.is_empty() {
                let (out, limit) = writer.rewrite(rest);
                let written = if first { limit.min(cut) } else { limit };
                let written = if written == 0 { limit.max(1) } else { written };
                first = false;
                writer.wrote(&out, written);
                sent.extend_from_slice(&out[..written]);
                rest = &rest[written..];
            }
            let text = String::from_utf8(sent).unwrap();
            assert!(text.contains("\r\nSOAPAction: x"), "cut at {cut}: {text:?}");
        }
    }

    #[test]
    fn the_deadline_shortens_every_bound() {
        let config = Config::default().with_deadline(Instant::now());
        assert_eq!(config.operation_bound(), Duration::ZERO);
        let config = Config::default().with_operation_timeout(Duration::from_secs(4));
        assert_eq!(config.operation_bound(), Duration::from_secs(4));
        assert_eq!(
            Config::default().operation_bound(),
            Config::default().timeout
        );
    }

    #[test]
    fn ipv4_mapped_responder_matches_its_ipv4_url() {
        let mapped: IpAddr = "::ffff:192.168.77.1".parse().unwrap();
        let client = HttpClient::new(mapped, Config::default());
        assert!(
            client
                .check_url(&parse_url("http://192.168.77.1:5000/").unwrap())
                .is_ok()
        );
    }
}
