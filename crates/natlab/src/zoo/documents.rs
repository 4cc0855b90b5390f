//! The fixture's description documents: the root device description (device tree,
//! services, URLBase) and the SCPD of each service, with the arguments and state variables
//! of every action it offers.

use std::fmt::Write as _;

use super::engine::{ELSEWHERE, Engine, escape};
use super::{Connection, Unusable};

/// How much a huge description is padded: twice what clients read by default (1 MiB).
const HUGE_DESCRIPTION: usize = 2 << 20;

/// Paths of the services every profile has beside its connections.
pub(super) const L3F_SCPD: &str = "/zoo/l3f.xml";
pub(super) const L3F_CONTROL: &str = "/zoo/ctl/l3f";
pub(super) const CIF_SCPD: &str = "/zoo/wancfg.xml";
pub(super) const CIF_CONTROL: &str = "/zoo/ctl/wancfg";

impl Engine {
    /// The root description.
    pub(super) fn description(&self) -> String {
        let tree = &self.profile.device;
        let connections: Vec<&Connection> = tree.connections.iter().collect();
        self.root_description(tree.igd_version, self.profile.uuid, &connections)
    }

    /// The second root's description, if the profile has one.
    pub(super) fn second_description(&self) -> Option<String> {
        let root = self.profile.second_root.as_ref()?;
        Some(self.root_description(root.igd_version, root.uuid, &[&root.connection]))
    }

    /// A control URL as the description writes it (on another host, or with user info,
    /// for the hostile gateways).
    fn control_written(&self, path: &str) -> String {
        let port = self.profile.http.port;
        match self.profile.unusable {
            Some(Unusable::ControlUrlOffGateway) => format!("http://{ELSEWHERE}:{port}{path}"),
            Some(Unusable::ControlUrlWithUserInfo) => {
                format!("http://admin:admin@{}:{port}{path}", self.placement.address)
            }
            _ => path.to_owned(),
        }
    }

    /// A root description of an IGD of version `v` with `connections`, spoilt as the
    /// profile's [`Unusable`] says.
    fn root_description(&self, v: u8, uuid: &str, connections: &[&Connection]) -> String {
        let tree = &self.profile.device;
        let mut xml = String::from(
            "<?xml version=\"1.0\"?>\n<root xmlns=\"urn:schemas-upnp-org:device-1-0\">\n<specVersion><major>1</major><minor>0</minor></specVersion>\n",
        );
        if self.profile.http.url_base {
            let _ = writeln!(
                xml,
                "<URLBase>http://{}:{}</URLBase>",
                self.placement.address, self.profile.http.port
            );
        }
        let _ = writeln!(
            xml,
            "<device>\n<deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:{v}</deviceType>\n<friendlyName>{}</friendlyName>\n<manufacturer>natlab zoo</manufacturer>\n<modelName>{}</modelName>\n<UDN>uuid:{uuid}</UDN>",
            escape(self.profile.friendly_name),
            self.profile.name,
        );
        if tree.root_services {
            xml.push_str("<serviceList>\n");
            xml.push_str(&service_xml(
                "urn:schemas-upnp-org:service:Layer3Forwarding:1",
                "urn:upnp-org:serviceId:L3Forwarding1",
                L3F_SCPD,
                L3F_CONTROL,
            ));
            xml.push_str("</serviceList>\n");
        }
        let _ = writeln!(
            xml,
            "<deviceList>\n<device>\n<deviceType>urn:schemas-upnp-org:device:WANDevice:{v}</deviceType>\n<friendlyName>WANDevice</friendlyName>\n<UDN>uuid:{uuid}-wan</UDN>\n<serviceList>\n{}</serviceList>\n<deviceList>",
            service_xml(
                "urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1",
                "urn:upnp-org:serviceId:WANCommonIFC1",
                CIF_SCPD,
                CIF_CONTROL,
            )
        );
        for (index, connection) in connections.iter().enumerate() {
            let kind = connection
                .service_type
                .rsplit(':')
                .nth(1)
                .unwrap_or("WANIPConnection");
            let _ = writeln!(
                xml,
                "<device>\n<deviceType>{}</deviceType>\n<friendlyName>WANConnectionDevice</friendlyName>\n<UDN>uuid:{uuid}-conn{index}</UDN>\n<serviceList>\n{}</serviceList>\n</device>",
                connection.device_type,
                service_xml(
                    connection.service_type,
                    &format!("urn:upnp-org:serviceId:{kind}{index}"),
                    connection.scpd_path,
                    &self.control_written(connection.control_path),
                )
            );
        }
        xml.push_str("</deviceList>\n</device>\n</deviceList>\n</device>\n</root>\n");
        match self.profile.unusable {
            Some(Unusable::MalformedDescription) => {
                xml.truncate(xml.len() - "</device>\n</root>\n".len());
                xml.push_str("</devic");
            }
            Some(Unusable::DescriptionWithDtd) => {
                xml = xml.replacen(
                    "?>\n",
                    "?>\n<!DOCTYPE root [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;\">]>\n",
                    1,
                );
            }
            Some(Unusable::HugeDescription) => {
                let padding = "x".repeat(HUGE_DESCRIPTION);
                xml = xml.replacen("</root>", &format!("<!-- {padding} -->\n</root>"), 1);
            }
            _ => {}
        }
        xml
    }

    /// An SCPD with `actions` (none for the services the fixture does not implement).
    /// The SCPD of a service offering `actions` (none: an empty service).
    pub(super) fn scpd(&self, actions: &[&str]) -> String {
        let mut xml = String::from("<?xml version=\"1.0\"?>\n");
        if self.profile.http.comment_before_scpd {
            xml.push_str("<!-- Copyright (c) the vendor. All rights reserved. -->\n<!-- service description -->\n");
        }
        xml.push_str("<scpd xmlns=\"urn:schemas-upnp-org:service-1-0\">\n<specVersion><major>1</major><minor>0</minor></specVersion>\n<actionList>\n");
        for action in actions {
            let _ = writeln!(xml, "<action><name>{action}</name><argumentList>");
            for (name, input, variable) in arguments_of(action) {
                let _ = writeln!(
                    xml,
                    "<argument><name>{name}</name><direction>{}</direction><relatedStateVariable>{variable}</relatedStateVariable></argument>",
                    if *input { "in" } else { "out" }
                );
            }
            xml.push_str("</argumentList></action>\n");
        }
        xml.push_str("</actionList>\n<serviceStateTable>\n");
        for (name, data_type, extra) in STATE_VARIABLES {
            let _ = writeln!(
                xml,
                "<stateVariable sendEvents=\"no\"><name>{name}</name><dataType>{data_type}</dataType>{extra}</stateVariable>"
            );
        }
        xml.push_str("</serviceStateTable>\n</scpd>\n");
        xml
    }
}

fn service_xml(service_type: &str, id: &str, scpd: &str, control: &str) -> String {
    format!(
        "<service>\n<serviceType>{service_type}</serviceType>\n<serviceId>{id}</serviceId>\n<SCPDURL>{}</SCPDURL>\n<controlURL>{}</controlURL>\n<eventSubURL>/zoo/evt</eventSubURL>\n</service>\n",
        escape(scpd),
        escape(control)
    )
}

/// The state variables every connection SCPD declares.
const STATE_VARIABLES: [(&str, &str, &str); 18] = [
    ("ExternalIPAddress", "string", ""),
    ("ConnectionStatus", "string", ""),
    ("LastConnectionError", "string", ""),
    ("Uptime", "ui4", ""),
    ("ConnectionType", "string", ""),
    ("PossibleConnectionTypes", "string", ""),
    ("RemoteHost", "string", ""),
    ("ExternalPort", "ui2", ""),
    ("InternalPort", "ui2", ""),
    (
        "PortMappingProtocol",
        "string",
        "<allowedValueList><allowedValue>TCP</allowedValue><allowedValue>UDP</allowedValue></allowedValueList>",
    ),
    ("InternalClient", "string", ""),
    ("PortMappingEnabled", "boolean", ""),
    ("PortMappingDescription", "string", ""),
    (
        "PortMappingLeaseDuration",
        "ui4",
        "<allowedValueRange><minimum>0</minimum><maximum>604800</maximum></allowedValueRange>",
    ),
    ("PortMappingNumberOfEntries", "ui2", ""),
    ("A_ARG_TYPE_PortListing", "string", ""),
    ("A_ARG_TYPE_Manage", "boolean", ""),
    ("SystemUpdateID", "ui4", ""),
];

/// (argument, is input, related state variable) of each implemented action.
fn arguments_of(action: &str) -> &'static [(&'static str, bool, &'static str)] {
    const MAPPING_IN: [(&str, bool, &str); 8] = [
        ("NewRemoteHost", true, "RemoteHost"),
        ("NewExternalPort", true, "ExternalPort"),
        ("NewProtocol", true, "PortMappingProtocol"),
        ("NewInternalPort", true, "InternalPort"),
        ("NewInternalClient", true, "InternalClient"),
        ("NewEnabled", true, "PortMappingEnabled"),
        ("NewPortMappingDescription", true, "PortMappingDescription"),
        ("NewLeaseDuration", true, "PortMappingLeaseDuration"),
    ];
    match action {
        "GetExternalIPAddress" => &[("NewExternalIPAddress", false, "ExternalIPAddress")],
        "GetStatusInfo" => &[
            ("NewConnectionStatus", false, "ConnectionStatus"),
            ("NewLastConnectionError", false, "LastConnectionError"),
            ("NewUptime", false, "Uptime"),
        ],
        "GetConnectionTypeInfo" => &[
            ("NewConnectionType", false, "ConnectionType"),
            (
                "NewPossibleConnectionTypes",
                false,
                "PossibleConnectionTypes",
            ),
        ],
        "AddPortMapping" => &MAPPING_IN,
        "AddAnyPortMapping" => &[
            ("NewRemoteHost", true, "RemoteHost"),
            ("NewExternalPort", true, "ExternalPort"),
            ("NewProtocol", true, "PortMappingProtocol"),
            ("NewInternalPort", true, "InternalPort"),
            ("NewInternalClient", true, "InternalClient"),
            ("NewEnabled", true, "PortMappingEnabled"),
            ("NewPortMappingDescription", true, "PortMappingDescription"),
            ("NewLeaseDuration", true, "PortMappingLeaseDuration"),
            ("NewReservedPort", false, "ExternalPort"),
        ],
        "DeletePortMapping" => &[
            ("NewRemoteHost", true, "RemoteHost"),
            ("NewExternalPort", true, "ExternalPort"),
            ("NewProtocol", true, "PortMappingProtocol"),
        ],
        "GetSpecificPortMappingEntry" => &[
            ("NewRemoteHost", true, "RemoteHost"),
            ("NewExternalPort", true, "ExternalPort"),
            ("NewProtocol", true, "PortMappingProtocol"),
            ("NewInternalPort", false, "InternalPort"),
            ("NewInternalClient", false, "InternalClient"),
            ("NewEnabled", false, "PortMappingEnabled"),
            ("NewPortMappingDescription", false, "PortMappingDescription"),
            ("NewLeaseDuration", false, "PortMappingLeaseDuration"),
        ],
        "GetGenericPortMappingEntry" => &[
            ("NewPortMappingIndex", true, "PortMappingNumberOfEntries"),
            ("NewRemoteHost", false, "RemoteHost"),
            ("NewExternalPort", false, "ExternalPort"),
            ("NewProtocol", false, "PortMappingProtocol"),
            ("NewInternalPort", false, "InternalPort"),
            ("NewInternalClient", false, "InternalClient"),
            ("NewEnabled", false, "PortMappingEnabled"),
            ("NewPortMappingDescription", false, "PortMappingDescription"),
            ("NewLeaseDuration", false, "PortMappingLeaseDuration"),
        ],
        "GetListOfPortMappings" => &[
            ("NewStartPort", true, "ExternalPort"),
            ("NewEndPort", true, "ExternalPort"),
            ("NewProtocol", true, "PortMappingProtocol"),
            ("NewManage", true, "A_ARG_TYPE_Manage"),
            ("NewNumberOfPorts", true, "PortMappingNumberOfEntries"),
            ("NewPortListing", false, "A_ARG_TYPE_PortListing"),
        ],
        _ => &[],
    }
}
