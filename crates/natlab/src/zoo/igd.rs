//! The fixture's IGD control: the actions a WANIPConnection or WANPPPConnection service
//! offers, the SOAP requests they answer (mapping, deleting, listing, the external
//! address), their faults, and the SOAP envelopes around the answers.

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::time::Instant;

use super::engine::{Engine, Entry, Proto, Request, Table, escape, unescape};
use super::{Connection, MAX_MAPPINGS};

/// A SOAP fault: UPnP error code and description.
pub(super) struct Fault(u16, &'static str);

pub(super) const INVALID_ACTION: Fault = Fault(401, "Invalid Action");
pub(super) const INVALID_ARGS: Fault = Fault(402, "Invalid Args");
pub(super) const ACTION_FAILED: Fault = Fault(501, "Action Failed");
const NOT_AUTHORIZED: Fault = Fault(606, "Action not authorized");
const NO_SUCH_ENTRY: Fault = Fault(714, "NoSuchEntryInArray");
const WILDCARD_PORT: Fault = Fault(716, "WildCardNotPermittedInExtPort");
const CONFLICT: Fault = Fault(718, "ConflictInMappingEntry");
const NO_PORT_MAPS: Fault = Fault(728, "NoPortMapsAvailable");
const NOT_FOUND: Fault = Fault(730, "PortMappingNotFound");

impl Engine {
    /// The actions of a connection service, as its SCPD lists them.
    pub(super) fn actions(&self, connection: &Connection) -> Vec<&'static str> {
        let mut actions = vec![
            "GetExternalIPAddress",
            "GetStatusInfo",
            "GetConnectionTypeInfo",
            "AddPortMapping",
            "DeletePortMapping",
            "GetSpecificPortMappingEntry",
        ];
        if self.profile.soap.generic_listing {
            actions.push("GetGenericPortMappingEntry");
        }
        if connection.service_type.ends_with(":2") {
            actions.push("AddAnyPortMapping");
            actions.push("GetListOfPortMappings");
        }
        actions
    }

    /// Performs `action` of `connection` for `client`: its output arguments or a fault.
    pub(super) async fn control(
        &self,
        connection: &Connection,
        action: &str,
        body: &str,
        client: Ipv4Addr,
    ) -> std::result::Result<Vec<(&'static str, String)>, Fault> {
        if connection.needs_authentication {
            return Err(NOT_AUTHORIZED);
        }
        if !self.actions(connection).contains(&action) {
            return Err(INVALID_ACTION);
        }
        let arg = |name: &str| argument(body, name);
        let port = |name: &str| {
            arg(name)
                .and_then(|p| p.trim().parse::<u16>().ok())
                .ok_or(INVALID_ARGS)
        };
        let proto = || {
            arg("NewProtocol")
                .and_then(|p| Proto::parse(&p))
                .ok_or(INVALID_ARGS)
        };
        let ignores_lease = self.profile.soap.ignores_lease;
        match action {
            "GetExternalIPAddress" => {
                let address = if connection.connected {
                    self.profile
                        .reports_external_address
                        .unwrap_or(self.placement.external)
                        .to_string()
                } else {
                    "0.0.0.0".to_owned()
                };
                Ok(vec![("NewExternalIPAddress", address)])
            }
            "GetStatusInfo" => Ok(vec![
                (
                    "NewConnectionStatus",
                    if connection.connected {
                        "Connected"
                    } else {
                        "Disconnected"
                    }
                    .to_owned(),
                ),
                ("NewLastConnectionError", "ERROR_NONE".to_owned()),
                (
                    "NewUptime",
                    if connection.connected { "3600" } else { "0" }.to_owned(),
                ),
            ]),
            "GetConnectionTypeInfo" => Ok(vec![
                ("NewConnectionType", "IP_Routed".to_owned()),
                ("NewPossibleConnectionTypes", "IP_Routed".to_owned()),
            ]),
            "AddPortMapping" | "AddAnyPortMapping" => {
                if !connection.connected {
                    return Err(ACTION_FAILED);
                }
                let external = port("NewExternalPort")?;
                let internal = port("NewInternalPort")?;
                let protocol = proto()?;
                let internal_client: Ipv4Addr = arg("NewInternalClient")
                    .and_then(|c| c.trim().parse().ok())
                    .ok_or(INVALID_ARGS)?;
                let lease: u32 = arg("NewLeaseDuration")
                    .and_then(|l| l.trim().parse().ok())
                    .unwrap_or(0);
                if internal == 0 {
                    return Err(INVALID_ARGS);
                }
                if internal_client != client {
                    return Err(NOT_AUTHORIZED);
                }
                let any = action == "AddAnyPortMapping";
                if external == 0 && !any {
                    return Err(WILDCARD_PORT);
                }
                let entry = Entry {
                    internal_client,
                    internal_port: internal,
                    description: arg("NewPortMappingDescription").unwrap_or_default(),
                    lease: if ignores_lease { 0 } else { lease },
                    added: Instant::now(),
                };
                let (granted, snapshot) = {
                    let mut table = self.table();
                    let free = |table: &Table, port: u16| {
                        port != 0
                            && table
                                .get(&(protocol, port))
                                .is_none_or(|e| e.internal_client == client)
                    };
                    let granted = if free(&table, external) {
                        external
                    } else if any {
                        (external.max(1024)..=u16::MAX)
                            .chain(1024..external.max(1024))
                            .find(|p| free(&table, *p))
                            .ok_or(NO_PORT_MAPS)?
                    } else {
                        return Err(CONFLICT);
                    };
                    if !table.contains_key(&(protocol, granted)) && table.len() >= MAX_MAPPINGS {
                        return Err(NO_PORT_MAPS);
                    }
                    table.insert((protocol, granted), entry);
                    (granted, table.clone())
                };
                self.commit(snapshot).await?;
                Ok(if any {
                    vec![("NewReservedPort", granted.to_string())]
                } else {
                    Vec::new()
                })
            }
            "DeletePortMapping" => {
                let key = (proto()?, port("NewExternalPort")?);
                let snapshot = {
                    let mut table = self.table();
                    match table.get(&key) {
                        None => return Err(NO_SUCH_ENTRY),
                        Some(entry) if entry.internal_client != client => {
                            return Err(NOT_AUTHORIZED);
                        }
                        Some(_) => {}
                    }
                    table.remove(&key);
                    table.clone()
                };
                self.commit(snapshot).await?;
                Ok(Vec::new())
            }
            "GetSpecificPortMappingEntry" => {
                let key = (proto()?, port("NewExternalPort")?);
                let table = self.table();
                let entry = table.get(&key).ok_or(NO_SUCH_ENTRY)?;
                Ok(vec![
                    ("NewInternalPort", entry.internal_port.to_string()),
                    ("NewInternalClient", entry.internal_client.to_string()),
                    ("NewEnabled", "1".to_owned()),
                    ("NewPortMappingDescription", entry.description.clone()),
                    (
                        "NewLeaseDuration",
                        entry.remaining(ignores_lease).to_string(),
                    ),
                ])
            }
            "GetGenericPortMappingEntry" => {
                let index: usize = arg("NewPortMappingIndex")
                    .and_then(|i| i.trim().parse().ok())
                    .ok_or(INVALID_ARGS)?;
                let table = self.table();
                let Some(((protocol, external), entry)) = table.iter().nth(index) else {
                    return Err(match self.profile.soap.end_of_listing {
                        402 => INVALID_ARGS,
                        _ => Fault(713, "SpecifiedArrayIndexInvalid"),
                    });
                };
                Ok(vec![
                    ("NewRemoteHost", String::new()),
                    ("NewExternalPort", external.to_string()),
                    ("NewProtocol", protocol.upper().to_owned()),
                    ("NewInternalPort", entry.internal_port.to_string()),
                    ("NewInternalClient", entry.internal_client.to_string()),
                    ("NewEnabled", "1".to_owned()),
                    ("NewPortMappingDescription", entry.description.clone()),
                    (
                        "NewLeaseDuration",
                        entry.remaining(ignores_lease).to_string(),
                    ),
                ])
            }
            "GetListOfPortMappings" => {
                let start = port("NewStartPort")?;
                let end = port("NewEndPort")?;
                let protocol = proto()?;
                let most: usize = arg("NewNumberOfPorts")
                    .and_then(|n| n.trim().parse().ok())
                    .unwrap_or(0);
                let table = self.table();
                let mut listing = String::from(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<p:PortMappingList xmlns:p=\"urn:schemas-upnp-org:gw:WANIPConnection\">\n",
                );
                let mut count = 0;
                for ((p, external), entry) in table.iter() {
                    if *p != protocol || !(start..=end).contains(external) {
                        continue;
                    }
                    if most != 0 && count == most {
                        break;
                    }
                    count += 1;
                    let _ = writeln!(
                        listing,
                        "<p:PortMappingEntry><p:NewRemoteHost></p:NewRemoteHost>\
                         <p:NewExternalPort>{external}</p:NewExternalPort>\
                         <p:NewProtocol>{}</p:NewProtocol>\
                         <p:NewInternalPort>{}</p:NewInternalPort>\
                         <p:NewInternalClient>{}</p:NewInternalClient>\
                         <p:NewEnabled>1</p:NewEnabled>\
                         <p:NewDescription>{}</p:NewDescription>\
                         <p:NewLeaseTime>{}</p:NewLeaseTime></p:PortMappingEntry>",
                        p.upper(),
                        entry.internal_port,
                        entry.internal_client,
                        escape(&entry.description),
                        entry.remaining(ignores_lease),
                    );
                }
                if count == 0 {
                    return Err(NOT_FOUND);
                }
                listing.push_str("</p:PortMappingList>");
                Ok(vec![("NewPortListing", listing)])
            }
            _ => Err(INVALID_ACTION),
        }
    }

    /// A SOAP success envelope with the output arguments `out`.
    pub(super) fn soap_success(
        &self,
        service: &str,
        action: &str,
        out: &[(&str, String)],
    ) -> Vec<u8> {
        let p = self.profile.soap.prefix;
        let mut arguments = String::new();
        for (name, value) in out {
            let _ = write!(arguments, "<{name}>{}</{name}>", escape(value));
        }
        self.document(
            200,
            &format!(
                "<?xml version=\"1.0\"?>\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\">\n<s:Body>\n<{p}:{action}Response xmlns:{p}=\"{service}\">{arguments}</{p}:{action}Response>\n</s:Body>\n</s:Envelope>\n"
            ),
        )
    }

    /// A SOAP fault envelope (HTTP 500), noted in the log.
    pub(super) fn fault(&self, _service: &str, fault: &Fault) -> Vec<u8> {
        let Fault(code, description) = fault;
        self.note(format!("  -> fault {code} {description}"));
        self.document(
            500,
            &format!(
                "<?xml version=\"1.0\"?>\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\">\n<s:Body>\n<s:Fault>\n<faultcode>s:Client</faultcode>\n<faultstring>UPnPError</faultstring>\n<detail>\n<UPnPError xmlns=\"urn:schemas-upnp-org:control-1-0\">\n<errorCode>{code}</errorCode>\n<errorDescription>{description}</errorDescription>\n</UPnPError>\n</detail>\n</s:Fault>\n</s:Body>\n</s:Envelope>\n"
            ),
        )
    }
}

/// The action a SOAP request names: the `SOAPAction` header's part after `#`, else the
/// first element inside `Body`.
pub(super) fn soap_action(request: &Request) -> String {
    if let Some(header) = request.header("soapaction") {
        if let Some((_, action)) = header.trim().trim_matches('"').rsplit_once('#') {
            return action.to_owned();
        }
    }
    let body = request.body.as_str();
    body.find("Body>")
        .and_then(|at| body.get(at + 5..))
        .and_then(|rest| rest.find('<').map(|lt| &rest[lt + 1..]))
        .map(|element| {
            let name: String = element
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/')
                .collect();
            name.rsplit(':').next().unwrap_or_default().to_owned()
        })
        .unwrap_or_default()
}

/// The text of the first `<name>` element of a SOAP body (unprefixed, as clients send
/// arguments), unescaped; `Some("")` for `<name/>`.
fn argument(body: &str, name: &str) -> Option<String> {
    if body.contains(&format!("<{name}/>")) || body.contains(&format!("<{name} />")) {
        return Some(String::new());
    }
    let open = format!("<{name}>");
    let start = body.find(&open)? + open.len();
    let end = body.get(start..)?.find(&format!("</{name}>"))? + start;
    Some(unescape(body.get(start..end)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_read_and_unescaped() {
        let body = "<s:Body><u:AddPortMapping xmlns:u=\"x\"><NewRemoteHost></NewRemoteHost><NewExternalPort>4000</NewExternalPort><NewPortMappingDescription>a &amp; b</NewPortMappingDescription><NewEnabled/></u:AddPortMapping></s:Body>";
        assert_eq!(argument(body, "NewExternalPort").as_deref(), Some("4000"));
        assert_eq!(argument(body, "NewRemoteHost").as_deref(), Some(""));
        assert_eq!(argument(body, "NewEnabled").as_deref(), Some(""));
        assert_eq!(
            argument(body, "NewPortMappingDescription").as_deref(),
            Some("a & b")
        );
        assert_eq!(argument(body, "NewProtocol"), None);
    }
}
