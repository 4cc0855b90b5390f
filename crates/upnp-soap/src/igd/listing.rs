//! Reading the gateway's mapping table: one entry by key or index, the whole table with
//! `GetGenericPortMappingEntry`, and ranges with `GetListOfPortMappings` (whose XML listing
//! [`parse_port_listing`] reads).

use std::time::Duration;

use xmltree::Element;

use crate::error::code;
use crate::soap::Arguments;
use crate::xml;

use super::{Gateway, IgdError, PortMappingEntry, Protocol, Result};

/// The most entries `port_mappings` reads with `GetGenericPortMappingEntry` (some devices
/// never answer 713 and repeat entries forever).
const MAX_GENERIC_ENTRIES: u16 = 1024;

impl Gateway {
    /// The mapping of `external_port` (`GetSpecificPortMappingEntry`), `None` when there is
    /// none (714).
    ///
    /// # Errors
    /// [`IgdError::NotAuthorized`], [`IgdError::InvalidResponse`], [`IgdError::Control`].
    pub async fn specific_port_mapping(
        &self,
        protocol: Protocol,
        external_port: u16,
    ) -> Result<Option<PortMappingEntry>> {
        const ACTION: &str = "GetSpecificPortMappingEntry";
        let port = external_port.to_string();
        let reply = self
            .bounded(
                ACTION,
                self.call(
                    ACTION,
                    &[
                        ("NewRemoteHost", ""),
                        ("NewExternalPort", &port),
                        ("NewProtocol", protocol.as_str()),
                    ],
                ),
            )
            .await;
        match reply {
            Ok(reply) => Ok(Some(self.entry(
                ACTION,
                &reply,
                String::new(),
                external_port,
                protocol,
            )?)),
            Err(e) if e.upnp_code() == Some(code::NO_SUCH_ENTRY_IN_ARRAY) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The mapping at `index` of the gateway's table (`GetGenericPortMappingEntry`), `None`
    /// past the end (713, or 714 as some devices answer).
    ///
    /// # Errors
    /// [`IgdError::NotAuthorized`], [`IgdError::InvalidResponse`], [`IgdError::Control`].
    pub async fn generic_port_mapping(&self, index: u16) -> Result<Option<PortMappingEntry>> {
        self.bounded(
            "GetGenericPortMappingEntry",
            self.generic_port_mapping_unbounded(index),
        )
        .await
    }

    async fn generic_port_mapping_unbounded(&self, index: u16) -> Result<Option<PortMappingEntry>> {
        const ACTION: &str = "GetGenericPortMappingEntry";
        let index = index.to_string();
        let reply = match self.call(ACTION, &[("NewPortMappingIndex", &index)]).await {
            Ok(reply) => reply,
            Err(e)
                if matches!(
                    e.upnp_code(),
                    Some(code::SPECIFIED_ARRAY_INDEX_INVALID | code::NO_SUCH_ENTRY_IN_ARRAY)
                ) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let protocol_text = reply.get("NewProtocol").unwrap_or_default();
        let remote_host = reply
            .get("NewRemoteHost")
            .unwrap_or_default()
            .trim()
            .to_owned();
        let external_port = self.parse_port(ACTION, &reply, "NewExternalPort")?;
        let protocol = protocol_text
            .parse()
            .map_err(|_| self.invalid(ACTION, "NewProtocol", protocol_text))?;
        Ok(Some(self.entry(
            ACTION,
            &reply,
            remote_host,
            external_port,
            protocol,
        )?))
    }

    /// A table entry from a `GetSpecificPortMappingEntry` or `GetGenericPortMappingEntry`
    /// reply: the fields both answers carry, plus the key fields the caller already has.
    fn entry(
        &self,
        action: &'static str,
        reply: &Arguments,
        remote_host: String,
        external_port: u16,
        protocol: Protocol,
    ) -> Result<PortMappingEntry> {
        Ok(PortMappingEntry {
            remote_host,
            external_port,
            protocol,
            internal_port: self.parse_port(action, reply, "NewInternalPort")?,
            internal_client: reply
                .get("NewInternalClient")
                .unwrap_or_default()
                .trim()
                .to_owned(),
            enabled: parse_bool(reply.get("NewEnabled").unwrap_or("1")),
            description: reply
                .get("NewPortMappingDescription")
                .unwrap_or_default()
                .to_owned(),
            lease_duration: parse_seconds(reply.get("NewLeaseDuration")),
        })
    }

    /// Every mapping of the gateway's table, read with `GetGenericPortMappingEntry` from
    /// index 0 until the gateway says the index is past the end (713; 714, 402 and 501 as
    /// some devices answer), at most 1024.
    ///
    /// # Errors
    /// As [`generic_port_mapping`](Self::generic_port_mapping).
    pub async fn port_mappings(&self) -> Result<Vec<PortMappingEntry>> {
        self.bounded("GetGenericPortMappingEntry", self.port_mappings_unbounded())
            .await
    }

    async fn port_mappings_unbounded(&self) -> Result<Vec<PortMappingEntry>> {
        let lists_generically = self.client.has_action("GetGenericPortMappingEntry");
        if self.v2 && lists_generically == Some(false) {
            return self.listed_port_mappings().await;
        }
        let mut entries = Vec::new();
        for index in 0..MAX_GENERIC_ENTRIES {
            match self.generic_port_mapping_unbounded(index).await {
                Ok(Some(entry)) => entries.push(entry),
                Ok(None) => return Ok(entries),
                // A v2 device that lists only with GetListOfPortMappings.
                Err(e)
                    if index == 0
                        && self.v2
                        && matches!(e.upnp_code(), Some(code::INVALID_ACTION)) =>
                {
                    tracing::debug!(error = %e, "no GetGenericPortMappingEntry; listing with GetListOfPortMappings");
                    return self.listed_port_mappings().await;
                }
                // Some devices end the table with 402 or 501 instead of 713.
                Err(e)
                    if matches!(
                        e.upnp_code(),
                        Some(code::INVALID_ARGS | code::ACTION_FAILED)
                    ) =>
                {
                    tracing::debug!(index, error = %e, "taking the error as the end of the table");
                    return Ok(entries);
                }
                Err(e) => return Err(e),
            }
        }
        tracing::warn!(
            limit = MAX_GENERIC_ENTRIES,
            "the gateway lists too many mappings; stopped reading"
        );
        Ok(entries)
    }

    /// Every mapping, TCP then UDP, with `GetListOfPortMappings` over the whole port range:
    /// every client's where the gateway allows it, else ours.
    async fn listed_port_mappings(&self) -> Result<Vec<PortMappingEntry>> {
        let mut entries = Vec::new();
        for protocol in [Protocol::Tcp, Protocol::Udp] {
            let listed = match self
                .list_unbounded(protocol, 0, u16::MAX, true, MAX_GENERIC_ENTRIES)
                .await
            {
                Err(IgdError::NotAuthorized { .. }) => {
                    self.list_unbounded(protocol, 0, u16::MAX, false, MAX_GENERIC_ENTRIES)
                        .await?
                }
                other => other?,
            };
            entries.extend(listed);
        }
        Ok(entries)
    }

    /// The mappings of `protocol` with external ports in `start..=end`
    /// (`GetListOfPortMappings`, v2 only), at most `max_entries` (0: as many as the gateway
    /// gives). `manage` asks for every client's mappings rather than only ours (the gateway
    /// may refuse that with 606).
    ///
    /// # Errors
    /// [`IgdError::NotSupported`] on a v1 service, [`IgdError::NotAuthorized`],
    /// [`IgdError::Control`] (also for a listing that does not parse).
    pub async fn list_port_mappings(
        &self,
        protocol: Protocol,
        start: u16,
        end: u16,
        manage: bool,
        max_entries: u16,
    ) -> Result<Vec<PortMappingEntry>> {
        self.bounded(
            "GetListOfPortMappings",
            self.list_unbounded(protocol, start, end, manage, max_entries),
        )
        .await
    }

    async fn list_unbounded(
        &self,
        protocol: Protocol,
        start: u16,
        end: u16,
        manage: bool,
        max_entries: u16,
    ) -> Result<Vec<PortMappingEntry>> {
        const ACTION: &str = "GetListOfPortMappings";
        if !self.v2 {
            return Err(self.not_supported(ACTION));
        }
        let (start, end, max) = (start.to_string(), end.to_string(), max_entries.to_string());
        let reply = self
            .call(
                ACTION,
                &[
                    ("NewStartPort", &start),
                    ("NewEndPort", &end),
                    ("NewProtocol", protocol.as_str()),
                    ("NewManage", if manage { "1" } else { "0" }),
                    ("NewNumberOfPorts", &max),
                ],
            )
            .await;
        match reply {
            Ok(reply) => Ok(parse_port_listing(
                reply.get("NewPortListing").unwrap_or_default().as_bytes(),
            )
            .map_err(|e| e.with_source(self.control_url()))?),
            Err(e) if e.upnp_code() == Some(code::PORT_MAPPING_NOT_FOUND) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    fn parse_port(
        &self,
        action: &'static str,
        reply: &Arguments,
        argument: &'static str,
    ) -> Result<u16> {
        let value = reply.get(argument).unwrap_or_default();
        value
            .trim()
            .parse()
            .map_err(|_| self.invalid(action, argument, value))
    }
}

fn parse_bool(text: &str) -> bool {
    matches!(
        text.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes"
    )
}

fn parse_seconds(text: Option<&str>) -> Duration {
    Duration::from_secs(text.and_then(|t| t.trim().parse().ok()).unwrap_or(0))
}

/// Parses the `NewPortListing` of `GetListOfPortMappings`: a `<PortMappingList>` of
/// `<PortMappingEntry>` elements (namespace prefixes ignored). Entries whose ports or
/// protocol do not parse are left out.
///
/// # Errors
/// [`crate::Error::Xml`] for malformed or refused XML, [`crate::Error::MissingElement`] when
/// the root is not `<PortMappingList>`.
pub fn parse_port_listing(bytes: &[u8]) -> Result<Vec<PortMappingEntry>, crate::Error> {
    const DOCUMENT: &str = "port listing";
    let root = xml::parse(bytes, DOCUMENT)?;
    if !root.name.eq_ignore_ascii_case("PortMappingList") {
        return Err(crate::Error::MissingElement {
            document: DOCUMENT.to_owned(),
            element: "PortMappingList",
        });
    }
    Ok(xml::children_named(&root, "PortMappingEntry")
        .filter_map(|entry| {
            let entry_text = |name: &str| xml::child_text(entry, name);
            let parsed = listing_entry(entry, &entry_text);
            if parsed.is_none() {
                tracing::debug!("skipping an unreadable port listing entry");
            }
            parsed
        })
        .collect())
}

fn listing_entry(entry: &Element, text: &dyn Fn(&str) -> String) -> Option<PortMappingEntry> {
    let description = xml::child(entry, "NewDescription")
        .or_else(|| xml::child(entry, "NewPortMappingDescription"))
        .map(|d| xml::text(d).into_owned())
        .unwrap_or_default();
    let lease = xml::child(entry, "NewLeaseTime").or_else(|| xml::child(entry, "NewLeaseDuration"));
    Some(PortMappingEntry {
        remote_host: text("NewRemoteHost"),
        external_port: text("NewExternalPort").parse().ok()?,
        protocol: text("NewProtocol").parse().ok()?,
        internal_port: text("NewInternalPort").parse().ok()?,
        internal_client: text("NewInternalClient"),
        enabled: parse_bool(&text("NewEnabled")),
        description,
        lease_duration: parse_seconds(lease.map(|l| xml::text(l)).as_deref()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<p:PortMappingList xmlns:p="urn:schemas-upnp-org:gw:WANIPConnection"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
 xsi:schemaLocation="urn:schemas-upnp-org:gw:WANIPConnection http://www.upnp.org/schemas/gw/WANIPConnection-v2.xsd">
<p:PortMappingEntry>
<p:NewRemoteHost></p:NewRemoteHost>
<p:NewExternalPort>4000</p:NewExternalPort>
<p:NewProtocol>TCP</p:NewProtocol>
<p:NewInternalPort>4001</p:NewInternalPort>
<p:NewInternalClient>192.168.77.10</p:NewInternalClient>
<p:NewEnabled>1</p:NewEnabled>
<p:NewDescription>a &amp; b</p:NewDescription>
<p:NewLeaseTime>3599</p:NewLeaseTime>
</p:PortMappingEntry>
<p:PortMappingEntry><p:NewExternalPort>not a port</p:NewExternalPort></p:PortMappingEntry>
<p:PortMappingEntry>
<p:NewExternalPort>5000</p:NewExternalPort><p:NewProtocol>udp</p:NewProtocol>
<p:NewInternalPort>5000</p:NewInternalPort><p:NewInternalClient>192.168.77.11</p:NewInternalClient>
<p:NewEnabled>0</p:NewEnabled>
</p:PortMappingEntry>
</p:PortMappingList>"#;

    #[test]
    fn port_listing_parses_and_skips_broken_entries() {
        let entries = parse_port_listing(LISTING.as_bytes()).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(
            entries[0],
            PortMappingEntry {
                remote_host: String::new(),
                external_port: 4000,
                protocol: Protocol::Tcp,
                internal_port: 4001,
                internal_client: "192.168.77.10".to_owned(),
                enabled: true,
                description: "a & b".to_owned(),
                lease_duration: Duration::from_secs(3599),
            }
        );
        assert_eq!(entries[1].protocol, Protocol::Udp);
        assert!(!entries[1].enabled);
        assert_eq!(entries[1].lease_duration, Duration::ZERO);
    }

    #[test]
    fn port_listing_errors() {
        assert!(matches!(
            parse_port_listing(b"<other/>"),
            Err(crate::Error::MissingElement { .. })
        ));
        assert!(matches!(
            parse_port_listing(b""),
            Err(crate::Error::Xml { .. })
        ));
        assert_eq!(parse_port_listing(b"<PortMappingList/>").unwrap(), []);
    }
}
