//! The HTTP/1.1 client: one hyper 1 connection per request over a TCP stream connected with
//! a timeout, only to the address that answered the search, only `http://`, never
//! following redirects, with the whole exchange under a timeout and the body under a cap
//! enforced while reading.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST, LOCATION, USER_AGENT};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full, LengthLimitError, Limited};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::Url;
use crate::error::{Error, Result};

/// The `User-Agent` sent with every request (UDA 1.1 asks for OS, UPnP and product tokens).
const USER_AGENT_VALUE: &str = concat!("Linux UPnP/1.1 upnp-soap/", env!("CARGO_PKG_VERSION"));

/// The largest response head (status line and headers) accepted.
const MAX_HEAD_SIZE: usize = 64 * 1024;

/// Timeouts and limits of the HTTP client.
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
}

impl Default for Config {
    fn default() -> Config {
        Config {
            connect_timeout: Duration::from_secs(3),
            timeout: Duration::from_secs(10),
            max_body_size: 1 << 20,
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
    pub(crate) body: Bytes,
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

    /// Checks that `url` may be fetched and returns the socket address to connect to.
    ///
    /// # Errors
    /// [`Error::UnsupportedScheme`] for anything but `http`, [`Error::OffHost`] when the
    /// host is not the responder's address (host names included).
    pub fn check_url(&self, url: &Url) -> Result<SocketAddr> {
        if url.scheme() != "http" {
            return Err(Error::UnsupportedScheme {
                url: Box::new(url.clone()),
            });
        }
        match url.ip() {
            Some(ip) if ip.to_canonical() == self.responder.to_canonical() => Ok(SocketAddr::new(
                ip,
                url.port_or_known_default().unwrap_or(80),
            )),
            _ => Err(Error::OffHost {
                url: Box::new(url.clone()),
                responder: self.responder,
            }),
        }
    }

    /// Fetches `url` (a description or SCPD) and returns the body of a 2xx response.
    ///
    /// # Errors
    /// The URL checks of [`check_url`](Self::check_url); [`Error::Connect`],
    /// [`Error::ConnectTimeout`], [`Error::Timeout`], [`Error::Http`],
    /// [`Error::BodyTooLarge`], [`Error::Redirect`] and [`Error::Status`].
    pub async fn get(&self, url: &Url) -> Result<Bytes> {
        let response = self.exchange(url, Method::GET, None).await?;
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
        self.exchange(url, Method::POST, Some((soap_action, body)))
            .await
    }

    /// One exchange, tried a second time (after 50 ms) when the device reset or closed the
    /// connection before answering: embedded HTTP servers (miniupnpd among them, seen in the
    /// lab under load) sometimes drop a connection they accepted. Every request this crate
    /// sends is a description fetch or an IGD action that is safe to repeat.
    async fn exchange(
        &self,
        url: &Url,
        method: Method,
        soap: Option<(&str, String)>,
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
        soap: Option<(&str, String)>,
    ) -> Result<Response> {
        let address = self.check_url(url)?;
        let connect_timeout = self.config.connect_timeout;
        let stream = match tokio::time::timeout(connect_timeout, TcpStream::connect(address)).await
        {
            Ok(Ok(stream)) => stream,
            Ok(Err(source)) => {
                return Err(Error::Connect {
                    url: Box::new(url.clone()),
                    source,
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
        let timeout = self.config.timeout;
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
        soap: Option<(&str, String)>,
    ) -> Result<Response> {
        let http_error = |source| Error::Http {
            url: Box::new(url.clone()),
            source,
        };
        let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
            .title_case_headers(true)
            // Router HTTP servers are often sloppy; tolerate what hyper can.
            .allow_spaces_after_header_name_in_responses(true)
            .allow_obsolete_multiline_headers_in_responses(true)
            .ignore_invalid_headers_in_responses(true)
            .max_buf_size(MAX_HEAD_SIZE.max(8192))
            .handshake::<_, Full<Bytes>>(TokioIo::new(stream))
            .await
            .map_err(http_error)?;
        // The connection must be driven while the request and body are exchanged; the guard
        // stops it when this future ends or is dropped (on timeout).
        let _driver = AbortOnDrop(tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::trace!(error = %e, "http connection ended with an error");
            }
        }));

        let host = match url.port() {
            Some(port) => format!("{}:{port}", url.host_str()),
            None => url.host_str().to_owned(),
        };
        let target = url.request_target();
        let mut request = Request::builder()
            .method(method.clone())
            .uri(if target.is_empty() { "/" } else { target })
            .header(HOST, host)
            .header(USER_AGENT, USER_AGENT_VALUE)
            .header(CONNECTION, "close");
        let body = match soap {
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
        let status = response.status();
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
                Ok(source) => http_error(*source),
                Err(e) if e.is::<LengthLimitError>() => too_large(),
                Err(e) => Error::Body {
                    url: Box::new(url.clone()),
                    reason: e.to_string(),
                },
            })?
            .to_bytes();
        tracing::debug!(%url, %status, bytes = body.len(), "upnp http response");
        Ok(Response { status, body })
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
    use std::net::Ipv4Addr;

    fn client() -> HttpClient {
        HttpClient::new(
            IpAddr::V4(Ipv4Addr::new(192, 168, 77, 1)),
            Config::default(),
        )
    }

    #[test]
    fn only_http_urls_on_the_responder_pass() {
        let client = client();
        let ok = Url::parse("http://192.168.77.1:5000/rootDesc.xml").unwrap();
        assert_eq!(
            client.check_url(&ok).unwrap(),
            "192.168.77.1:5000".parse().unwrap()
        );
        let default_port = Url::parse("http://192.168.77.1/x").unwrap();
        assert_eq!(client.check_url(&default_port).unwrap().port(), 80);
        for (url, scheme) in [
            ("https://192.168.77.1:5000/x", true),
            ("ftp://192.168.77.1/x", true),
            ("http://192.168.77.2:5000/x", false),
            ("http://router.local:5000/x", false),
            ("http://[::1]:5000/x", false),
        ] {
            let url = Url::parse(url).unwrap();
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
    fn ipv4_mapped_responder_matches_its_ipv4_url() {
        let mapped: IpAddr = "::ffff:192.168.77.1".parse().unwrap();
        let client = HttpClient::new(mapped, Config::default());
        assert!(
            client
                .check_url(&Url::parse("http://192.168.77.1:5000/").unwrap())
                .is_ok()
        );
    }
}
