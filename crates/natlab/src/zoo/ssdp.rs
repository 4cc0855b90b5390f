//! The fixtures' SSDP responder: M-SEARCH parsing, which targets a profile answers, and the
//! answers with the profile's header case, source ports and delay.

use std::net::Ipv4Addr;
use std::sync::Arc;

use tokio::net::UdpSocket;

use super::engine::{Engine, recase};
use super::{Answers, Connection, HeaderCase};
use crate::error::{Result, io_err};

/// The SSDP multicast group.
pub(super) const GROUP: Ipv4Addr = Ipv4Addr::new(239, 255, 255, 250);
/// The SSDP port.
pub(super) const PORT: u16 = 1900;
/// The longest datagram read.
const MAX_DATAGRAM: usize = 8 * 1024;

/// A bound responder: the 1900 socket (joined to the group) and one socket per other
/// source port the profile answers from.
pub(super) struct Responder {
    engine: Arc<Engine>,
    listen: Arc<UdpSocket>,
    senders: Vec<Arc<UdpSocket>>,
}

/// Binds UDP 1900 on the wildcard address and joins the SSDP group on `address`.
pub(super) async fn bind_group(address: Ipv4Addr) -> Result<UdpSocket> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, PORT))
        .await
        .map_err(io_err(format!("cannot bind UDP {PORT} for {address}")))?;
    socket
        .join_multicast_v4(GROUP, address)
        .map_err(io_err(format!("cannot join {GROUP} on {address}")))?;
    Ok(socket)
}

impl Responder {
    pub(super) async fn bind(engine: Arc<Engine>) -> Result<Responder> {
        let address = engine.placement.address;
        let listen = Arc::new(bind_group(address).await?);
        let mut senders = Vec::new();
        for port in &engine.profile.ssdp.source_ports {
            if *port == PORT {
                senders.push(listen.clone());
            } else {
                let socket = UdpSocket::bind((address, *port))
                    .await
                    .map_err(io_err(format!("cannot bind UDP {address}:{port}")))?;
                senders.push(Arc::new(socket));
            }
        }
        Ok(Responder {
            engine,
            listen,
            senders,
        })
    }

    pub(super) async fn serve(self) {
        let mut buffer = vec![0u8; MAX_DATAGRAM];
        loop {
            let (n, from) = match self.listen.recv_from(&mut buffer).await {
                Ok(received) => received,
                Err(e) => {
                    tracing::debug!(error = %e, "fixture ssdp receive failed");
                    continue;
                }
            };
            let Some(st) = search_target(&buffer[..n]) else {
                continue;
            };
            let answers = answers(&self.engine, &st);
            self.engine.note(format!(
                "M-SEARCH {st} from {from}: {} answer(s)",
                answers.len()
            ));
            if answers.is_empty() {
                continue;
            }
            let senders = self.senders.clone();
            let delay = self.engine.profile.ssdp.delay;
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                for datagram in &answers {
                    for socket in &senders {
                        let _ = socket.send_to(datagram.as_bytes(), from).await;
                    }
                }
            });
        }
    }
}

/// The `ST` of an M-SEARCH (`None` for anything else).
pub(super) fn search_target(datagram: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(datagram).ok()?;
    let mut lines = text.lines();
    if !lines
        .next()?
        .trim()
        .eq_ignore_ascii_case("M-SEARCH * HTTP/1.1")
    {
        return None;
    }
    lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("st"))
        .map(|(_, value)| value.trim().to_owned())
}

/// Whether a search for `wanted` (`urn:...:Type:v`) finds `have` (`urn:...:Type:w`,
/// `w >= v`).
fn matches_type(wanted: &str, have: &str) -> bool {
    let split = |t: &str| {
        t.rsplit_once(':')
            .and_then(|(kind, v)| v.parse::<u32>().ok().map(|v| (kind.to_owned(), v)))
    };
    match (split(wanted), split(have)) {
        (Some((a, v)), Some((b, w))) => a == b && w >= v,
        _ => false,
    }
}

/// One root device as SSDP announces it: its LOCATION, UUID, IGD version and connections.
struct Announced<'a> {
    location: String,
    uuid: &'a str,
    igd_version: u8,
    connections: Vec<&'a Connection>,
}

/// The answers (whole datagrams) `engine`'s profile gives to a search for `st`: those of
/// its root device, and of its second root (then in random order, as pupnp's come).
fn answers(engine: &Engine, st: &str) -> Vec<String> {
    let profile = &engine.profile;
    let mut roots = vec![Announced {
        location: engine.location(),
        uuid: profile.uuid,
        igd_version: profile.device.igd_version,
        connections: profile.device.connections.iter().collect(),
    }];
    if let Some(second) = &profile.second_root {
        roots.push(Announced {
            location: engine.location_of(second.description_path),
            uuid: second.uuid,
            igd_version: second.igd_version,
            connections: vec![&second.connection],
        });
    }
    let mut datagrams: Vec<String> = roots
        .iter()
        .flat_map(|root| root_answers(engine, root, st))
        .collect();
    if roots.len() > 1 && coin() {
        datagrams.reverse();
    }
    datagrams
}

/// A fair coin, from the process's random hashing keys.
fn coin() -> bool {
    use std::hash::{BuildHasher as _, Hasher as _};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
        & 1
        == 1
}

/// The answers of one root device to a search for `st`.
fn root_answers(engine: &Engine, root: &Announced<'_>, st: &str) -> Vec<String> {
    let profile = &engine.profile;
    let uuid = format!("uuid:{}", root.uuid);
    let mut targets: Vec<String> = Vec::new();
    let root_device = "upnp:rootdevice";
    match profile.ssdp.answers {
        Answers::RootDeviceOnly => {
            if st == root_device || st == "ssdp:all" {
                targets.push(root_device.to_owned());
            }
        }
        Answers::Every => {
            let v = root.igd_version;
            let mut types = vec![
                format!("urn:schemas-upnp-org:device:InternetGatewayDevice:{v}"),
                format!("urn:schemas-upnp-org:device:WANDevice:{v}"),
            ];
            for connection in &root.connections {
                types.push(connection.device_type.to_owned());
                types.push(connection.service_type.to_owned());
            }
            if st == "ssdp:all" {
                targets.push(root_device.to_owned());
                targets.push(uuid.clone());
                targets.extend(types);
            } else if st == root_device || st == uuid || types.iter().any(|t| matches_type(st, t)) {
                targets.push(st.to_owned());
            }
        }
    }
    targets
        .into_iter()
        .map(|target| {
            let (st_value, usn) =
                if (profile.ssdp.uuid_st && target.starts_with("urn:")) || target == uuid {
                    (uuid.clone(), uuid.clone())
                } else {
                    (target.clone(), format!("{uuid}::{target}"))
                };
            response(
                profile.ssdp.header_case,
                &root.location,
                profile.server,
                &st_value,
                &usn,
            )
        })
        .collect()
}

/// One search response datagram.
pub(super) fn response(
    case: HeaderCase,
    location: &str,
    server: &str,
    st: &str,
    usn: &str,
) -> String {
    let h = |name: &str| recase(case, name);
    format!(
        "HTTP/1.1 200 OK\r\n{}: max-age=1800\r\n{}:\r\n{}: {location}\r\n{}: {server}\r\n{}: {st}\r\n{}: {usn}\r\n\r\n",
        h("Cache-Control"),
        h("Ext"),
        h("Location"),
        h("Server"),
        h("St"),
        h("Usn"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_search_target() {
        let search = b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nst: upnp:rootdevice\r\n\r\n";
        assert_eq!(search_target(search).as_deref(), Some("upnp:rootdevice"));
        assert_eq!(search_target(b"NOTIFY * HTTP/1.1\r\nNT: x\r\n\r\n"), None);
    }

    #[test]
    fn version_one_searches_find_version_two_types() {
        let igd2 = "urn:schemas-upnp-org:device:InternetGatewayDevice:2";
        assert!(matches_type(
            "urn:schemas-upnp-org:device:InternetGatewayDevice:1",
            igd2
        ));
        assert!(!matches_type(
            "urn:schemas-upnp-org:device:InternetGatewayDevice:2",
            "urn:schemas-upnp-org:device:InternetGatewayDevice:1"
        ));
        assert!(!matches_type(
            "urn:schemas-upnp-org:service:WANIPConnection:1",
            igd2
        ));
    }
}
