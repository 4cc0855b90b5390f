//! The fixture's HTTP/1.x server: accepting connections, reading one bounded request each,
//! routing it (descriptions and SCPDs for GET, SOAP control for POST), and writing the
//! response with the profile's quirks (header case, HTTP/1.0 without a length, stray CRs).

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{HeaderCase, Unusable};

/// How many bytes short of its `Content-Length` a cut description body is.
const SHORT_BY: usize = 200;
use super::documents::{CIF_CONTROL, CIF_SCPD, L3F_CONTROL, L3F_SCPD};
use super::engine::{Engine, Request, recase};
use super::igd::{INVALID_ACTION, INVALID_ARGS, soap_action};

/// The longest request head read.
const MAX_HEAD: usize = 16 * 1024;
/// The longest request body read.
const MAX_BODY: usize = 64 * 1024;
/// How long one connection may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// What a web server that matches `SOAPAction` case-sensitively answers without it: the
/// POST falls through to the static pages.
const NOT_IMPLEMENTED_PAGE: &str = "HTTP/1.0 501 Not Implemented\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n<HTML><HEAD><TITLE>501 Not Implemented</TITLE></HEAD><BODY>POST to a non-script</BODY></HTML>\r\n";

/// Accepts connections until the task is aborted, each served on a task of its own.
pub(super) async fn serve_http(listener: TcpListener, engine: Arc<Engine>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                tokio::spawn(handle(stream, peer, engine.clone()));
            }
            Err(e) => {
                tracing::debug!(error = %e, "fixture accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

async fn handle(mut stream: TcpStream, peer: SocketAddr, engine: Arc<Engine>) {
    let request = match tokio::time::timeout(REQUEST_TIMEOUT, read_request(&mut stream)).await {
        Ok(Some(request)) => request,
        _ => return,
    };
    let response = engine.respond(&request, peer).await;
    let _ = stream.write_all(&response).await;
    let _ = stream.shutdown().await;
}

/// Reads one request with bounded head and body; `None` for anything malformed.
async fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut buffer = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = find(&buffer, b"\r\n\r\n") {
            break at;
        }
        if buffer.len() > MAX_HEAD {
            return None;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split_whitespace();
    let method = request_line.next()?.to_owned();
    let target = request_line.next()?.to_owned();
    let fields: Vec<(&str, &str)> = lines.filter_map(|line| line.split_once(':')).collect();
    let raw_names = fields.iter().map(|(n, _)| n.trim().to_owned()).collect();
    let headers: Vec<(String, String)> = fields
        .iter()
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    if length > MAX_BODY {
        return None;
    }
    let mut body = buffer.split_off(head_end + 4);
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Some(Request {
        method,
        target,
        headers,
        raw_names,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl Engine {
    /// The response to one request from `peer`.
    async fn respond(&self, request: &Request, peer: SocketAddr) -> Vec<u8> {
        let http = &self.profile.http;
        let target = request.target.as_str();
        if request.method == "GET" {
            self.note(format!("GET {target} from {peer}"));
            if target == http.description_path {
                return self.description_response();
            }
            if let Some(second) = self.second_description().filter(|_| {
                self.profile
                    .second_root
                    .as_ref()
                    .is_some_and(|root| root.description_path == target)
            }) {
                return self.document(200, &second);
            }
            if target == L3F_SCPD || target == CIF_SCPD {
                return self.document(200, &self.scpd(&[]));
            }
            if let Some(connection) = self.connections().find(|c| c.scpd_path == target) {
                return self.document(200, &self.scpd(&self.actions(connection)));
            }
            return self.document(404, "");
        }
        if request.method != "POST" {
            return self.document(405, "");
        }
        let action = soap_action(request);
        self.note(format!("POST {target} {action} from {peer}"));
        if self.profile.soap.soapaction_case_sensitive
            && !request
                .raw_names
                .iter()
                .any(|n| n == "SOAPAction" || n == "SOAPACTION")
        {
            self.note("  -> 501: no SOAPAction header in the case it matches".to_owned());
            return NOT_IMPLEMENTED_PAGE.as_bytes().to_vec();
        }
        let Some(connection) = self.connections().find(|c| c.control_path == target) else {
            let service = match target {
                L3F_CONTROL | CIF_CONTROL => "urn:schemas-upnp-org:service:Layer3Forwarding:1",
                _ => return self.document(404, ""),
            };
            return self.fault(service, &INVALID_ACTION);
        };
        let client = match peer.ip() {
            IpAddr::V4(client) => client,
            IpAddr::V6(_) => return self.fault(connection.service_type, &INVALID_ARGS),
        };
        match self
            .control(connection, &action, &request.body, client)
            .await
        {
            Ok(out) => self.soap_success(connection.service_type, &action, &out),
            Err(fault) => self.fault(connection.service_type, &fault),
        }
    }

    /// The answer to a GET of the description, spoilt as the profile's [`Unusable`] says:
    /// a redirect, nothing (the connection closed), or a body cut short of its length.
    fn description_response(&self) -> Vec<u8> {
        match self.profile.unusable {
            Some(Unusable::Redirect) => format!(
                "HTTP/1.1 302 Found\r\nLocation: http://{}:{}/login.html\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.placement.address, self.profile.http.port
            )
            .into_bytes(),
            Some(Unusable::DroppedConnection) => Vec::new(),
            Some(Unusable::ShortBody) => {
                let mut bytes = self.document(200, &self.description());
                let cut = bytes.len().saturating_sub(SHORT_BY);
                bytes.truncate(cut);
                bytes
            }
            _ => self.document(200, &self.description()),
        }
    }

    /// A header name in `case`.
    fn header(&self, case: HeaderCase, name: &str) -> String {
        recase(case, name)
    }

    /// A full HTTP response carrying `body` (XML), with the profile's quirks.
    pub(super) fn document(&self, status: u16, body: &str) -> Vec<u8> {
        let http = &self.profile.http;
        let body = if http.crlf_stray_cr && !body.is_empty() {
            let mut text = body.replace("\r\n", "\n").replace('\n', "\r\n");
            text.push('\r');
            text
        } else {
            body.to_owned()
        };
        let reason = match status {
            200 => "OK",
            404 => "Not Found",
            405 => "Method Not Allowed",
            _ => "Internal Server Error",
        };
        let h = |name: &str| self.header(http.header_case, name);
        let mut head = if http.http10_without_length {
            format!("HTTP/1.0 {status} {reason}\r\n")
        } else {
            format!(
                "HTTP/1.1 {status} {reason}\r\n{}: {}\r\n",
                h("Content-Length"),
                body.len()
            )
        };
        let _ = write!(
            head,
            "{}: text/xml; charset=\"utf-8\"\r\n{}: {}\r\n{}: close\r\n\r\n",
            h("Content-Type"),
            h("Server"),
            self.profile.server,
            h("Connection"),
        );
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body.as_bytes());
        bytes
    }
}
