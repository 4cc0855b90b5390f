//! The device description (`rootDesc.xml`): the device tree, embedded devices included, and
//! each service's URLs resolved against `URLBase` or the LOCATION.

use crate::{Url, join_url, parse_url};
use xmltree::Element;

use crate::error::{Error, Result};
use crate::xml;

const DOCUMENT: &str = "device description";

/// A parsed device description: where it came from and its root device.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Description {
    /// The LOCATION the description was fetched from.
    pub location: Url,
    /// The base relative URLs were resolved against: `URLBase` when present and absolute,
    /// else the LOCATION.
    pub base: Url,
    /// The root device.
    pub device: Device,
    /// The services left out of the tree, as (service type, why): a URL that cannot be
    /// used (user info, another scheme) or a missing element. Bounded by the document's
    /// own limits.
    pub skipped: Vec<(String, String)>,
}

/// One device of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Device {
    /// `deviceType`, e.g. `urn:schemas-upnp-org:device:InternetGatewayDevice:2`.
    pub device_type: String,
    /// `friendlyName`.
    pub friendly_name: String,
    /// `manufacturer`.
    pub manufacturer: String,
    /// `modelName`.
    pub model_name: String,
    /// `UDN`, the unique device name (`uuid:...`).
    pub udn: String,
    /// The device's own services (`serviceList`).
    pub services: Vec<Service>,
    /// The embedded devices (`deviceList`).
    pub devices: Vec<Device>,
}

/// One service of a device, with absolute URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Service {
    /// `serviceType`, e.g. `urn:schemas-upnp-org:service:WANIPConnection:2`.
    pub service_type: String,
    /// `serviceId`, e.g. `urn:upnp-org:serviceId:WANIPConn1`.
    pub service_id: String,
    /// `controlURL`, where SOAP actions are posted.
    pub control_url: Url,
    /// `eventSubURL`, where GENA subscriptions go (absent or empty for services without
    /// events).
    pub event_sub_url: Option<Url>,
    /// `SCPDURL`, the service description.
    pub scpd_url: Url,
}

impl Service {
    /// A service known only by its type and control URL (from a cache of an earlier
    /// description): no events, and the SCPD URL taken as the control URL (never fetched).
    pub fn resumed(service_type: &str, control_url: &Url) -> Service {
        Service {
            service_type: service_type.to_owned(),
            service_id: String::new(),
            control_url: control_url.clone(),
            event_sub_url: None,
            scpd_url: control_url.clone(),
        }
    }
}

impl Description {
    /// Parses a description document fetched from `location`.
    ///
    /// Services lacking a `serviceType`, `controlURL` or `SCPDURL`, or whose URLs do not
    /// resolve, are left out (with a `tracing` debug event) rather than failing the whole
    /// device. Nothing here checks which host the URLs point to; the HTTP client does that
    /// before each request.
    ///
    /// # Errors
    /// [`Error::Xml`] for a document that is not well-formed or is refused (size, depth,
    /// DTD), [`Error::MissingElement`] when `<root>` or its `<device>` is missing.
    pub fn parse(bytes: &[u8], location: &Url) -> Result<Description> {
        let root = xml::parse_tolerant(bytes, DOCUMENT)?;
        if !root.name.eq_ignore_ascii_case("root") {
            return Err(Error::MissingElement {
                document: DOCUMENT.to_owned(),
                element: "root",
            });
        }
        let base = xml::child(&root, "URLBase")
            .map(|e| xml::text(e).trim().to_owned())
            .filter(|text| !text.is_empty() && !text.contains(char::REPLACEMENT_CHARACTER))
            .and_then(|text| match parse_url(&text) {
                Ok(url) => Some(url),
                Err(error) => {
                    tracing::debug!(url_base = %text, %error, "ignoring an unusable URLBase");
                    None
                }
            })
            .unwrap_or_else(|| location.clone());
        let device = xml::child(&root, "device").ok_or_else(|| Error::MissingElement {
            document: DOCUMENT.to_owned(),
            element: "device",
        })?;
        let mut skipped = Vec::new();
        let device = parse_device(device, &base, &mut skipped);
        Ok(Description {
            location: location.clone(),
            device,
            base,
            skipped,
        })
    }

    /// Every device of the tree, the root first, then embedded devices depth-first.
    pub fn devices(&self) -> impl Iterator<Item = &Device> {
        let mut stack = vec![&self.device];
        std::iter::from_fn(move || {
            let device = stack.pop()?;
            stack.extend(device.devices.iter().rev());
            Some(device)
        })
    }

    /// Every service of every device, in [`devices`](Self::devices) order.
    pub fn services(&self) -> impl Iterator<Item = &Service> {
        self.devices().flat_map(|d| d.services.iter())
    }

    /// The service of type `service_type`, or of a later version of it: UPnP versions are
    /// backward compatible, so a control point asking for `WANIPConnection:1` can use the
    /// `WANIPConnection:2` a device offers. An exact match wins; else the lowest later
    /// version; the first in [`services`](Self::services) order among equals.
    pub fn find_service(&self, service_type: &str) -> Option<&Service> {
        let wanted = service_type.trim();
        if let Some(exact) = self.services().find(|s| s.service_type == wanted) {
            return Some(exact);
        }
        let (family, version) = split_type(wanted)?;
        self.services()
            .filter_map(|s| {
                let (offered_family, offered) = split_type(&s.service_type)?;
                (offered_family == family && offered >= version).then_some((offered, s))
            })
            .min_by_key(|(offered, _)| *offered)
            .map(|(_, s)| s)
    }

    /// The service a user names: a full type (as [`find_service`](Self::find_service)), or
    /// a short name such as `WANIPConnection` (the last part of the type, any case), which
    /// picks the newest version the device offers; the first in
    /// [`services`](Self::services) order among equals.
    pub fn find_service_named(&self, name: &str) -> Option<&Service> {
        let name = name.trim();
        if name.contains(':') {
            return self.find_service(name);
        }
        self.services()
            .filter_map(|s| {
                let (family, version) = split_type(&s.service_type)?;
                let short = family.rsplit(':').next()?;
                short.eq_ignore_ascii_case(name).then_some((version, s))
            })
            .fold(
                None,
                |best: Option<(u32, &Service)>, (version, s)| match best {
                    Some((held, _)) if held >= version => best,
                    _ => Some((version, s)),
                },
            )
            .map(|(_, s)| s)
    }

    /// The distinct service types of the device tree, in [`services`](Self::services) order.
    pub fn service_types(&self) -> Vec<&str> {
        let mut types: Vec<&str> = Vec::new();
        for service in self.services() {
            if !types.contains(&service.service_type.as_str()) {
                types.push(&service.service_type);
            }
        }
        types
    }
}

/// Splits a device or service type (`urn:schemas-upnp-org:service:WANIPConnection:2`) into
/// its family and version (`urn:schemas-upnp-org:service:WANIPConnection`, 2); `None` when it
/// does not end in `:` and a version number.
pub fn split_type(type_name: &str) -> Option<(&str, u32)> {
    let (family, version) = type_name.rsplit_once(':')?;
    if family.is_empty() || version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((family, version.parse().ok()?))
}

/// Whether a device or service of type `offered` can serve a request for `wanted`: the same
/// type at the same or a later version (exact text for types without a version).
pub fn type_satisfies(offered: &str, wanted: &str) -> bool {
    let (offered, wanted) = (offered.trim(), wanted.trim());
    if offered == wanted {
        return true;
    }
    match (split_type(offered), split_type(wanted)) {
        (Some((a, offered)), Some((b, wanted))) => a == b && offered >= wanted,
        _ => false,
    }
}

fn parse_device(element: &Element, base: &Url, skipped: &mut Vec<(String, String)>) -> Device {
    let mut services = Vec::new();
    if let Some(list) = xml::child(element, "serviceList") {
        for service in xml::children_named(list, "service") {
            match parse_service(service, base) {
                Ok(service) => services.push(service),
                Err(why) => skipped.push((xml::child_text(service, "serviceType"), why)),
            }
        }
    }
    // Recursion depth is bounded by the XML depth limit.
    let devices = xml::child(element, "deviceList")
        .map(|list| {
            xml::children_named(list, "device")
                .map(|d| parse_device(d, base, skipped))
                .collect()
        })
        .unwrap_or_default();
    Device {
        device_type: xml::child_text(element, "deviceType"),
        friendly_name: xml::child_text(element, "friendlyName"),
        manufacturer: xml::child_text(element, "manufacturer"),
        model_name: xml::child_text(element, "modelName"),
        udn: xml::child_text(element, "UDN"),
        services,
        devices,
    }
}

/// One service of a device, or why it was left out.
fn parse_service(element: &Element, base: &Url) -> std::result::Result<Service, String> {
    let service_type = xml::child_text(element, "serviceType");
    let resolve = |name: &str| -> std::result::Result<Option<Url>, String> {
        let text = xml::child_text(element, name);
        if text.is_empty() {
            return Ok(None);
        }
        if text.contains(char::REPLACEMENT_CHARACTER) {
            tracing::debug!(%service_type, element = name, "a url with invalid utf-8");
            return Err(format!("its {name} is not utf-8"));
        }
        match join_url(base, &text) {
            Ok(url) => Ok(Some(url)),
            Err(e) => {
                tracing::debug!(%service_type, element = name, url = %text, error = %e, "unresolvable url");
                Err(format!("its {name}: {e}"))
            }
        }
    };
    let (Some(control_url), Some(scpd_url)) = (resolve("controlURL")?, resolve("SCPDURL")?) else {
        tracing::debug!(%service_type, "skipping a service without controlURL or SCPDURL");
        return Err("it has no controlURL or SCPDURL".to_owned());
    };
    if service_type.is_empty() || service_type.contains(char::REPLACEMENT_CHARACTER) {
        tracing::debug!(%control_url, "skipping a service without a readable serviceType");
        return Err("it has no readable serviceType".to_owned());
    }
    Ok(Service {
        service_id: xml::child_text(element, "serviceId"),
        event_sub_url: resolve("eventSubURL").ok().flatten(),
        service_type,
        control_url,
        scpd_url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIUPNPD: &[u8] = include_bytes!("../testdata/miniupnpd/rootDesc.xml");

    fn location() -> Url {
        parse_url("http://192.168.77.1:5000/rootDesc.xml").unwrap()
    }

    #[test]
    fn a_short_service_name_picks_the_newest_version_offered() {
        let text = String::from_utf8_lossy(MINIUPNPD).replace(
            "<serviceList><service><serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1",
            "<serviceList><service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType><serviceId>a</serviceId><SCPDURL>/v1.xml</SCPDURL><controlURL>/ctl/v1</controlURL></service><service><serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1",
        );
        let description = Description::parse(text.as_bytes(), &location()).unwrap();
        let newest = description.find_service_named("wanipconnection").unwrap();
        assert_eq!(
            newest.service_type,
            "urn:schemas-upnp-org:service:WANIPConnection:2"
        );
        let full = description
            .find_service_named("urn:schemas-upnp-org:service:WANIPConnection:1")
            .unwrap();
        assert_eq!(full.control_url.path(), "/ctl/v1");
        assert_eq!(
            description
                .find_service_named("WANIPv6FirewallControl")
                .map(|s| s.service_type.as_str()),
            Some("urn:schemas-upnp-org:service:WANIPv6FirewallControl:1")
        );
        assert!(description.find_service_named("WANIP").is_none());
        assert!(
            description
                .service_types()
                .contains(&"urn:schemas-upnp-org:service:WANIPConnection:1")
        );
    }

    #[test]
    fn miniupnpd_description_has_the_whole_tree() {
        let description = Description::parse(MINIUPNPD, &location()).unwrap();
        assert_eq!(description.base, location());
        let root = &description.device;
        assert_eq!(
            root.device_type,
            "urn:schemas-upnp-org:device:InternetGatewayDevice:2"
        );
        assert_eq!(root.friendly_name, "Debian router");
        assert_eq!(root.manufacturer, "Debian");
        assert_eq!(root.model_name, "Debian router");
        assert!(root.udn.starts_with("uuid:"));
        let types: Vec<_> = description
            .devices()
            .map(|d| d.device_type.as_str())
            .collect();
        assert_eq!(
            types,
            [
                "urn:schemas-upnp-org:device:InternetGatewayDevice:2",
                "urn:schemas-upnp-org:device:WANDevice:2",
                "urn:schemas-upnp-org:device:WANConnectionDevice:2",
            ]
        );
        assert_eq!(description.services().count(), 5);
        let wan_ip = description
            .find_service("urn:schemas-upnp-org:service:WANIPConnection:2")
            .unwrap();
        assert_eq!(wan_ip.service_id, "urn:upnp-org:serviceId:WANIPConn1");
        assert_eq!(
            wan_ip.control_url.as_str(),
            "http://192.168.77.1:5000/ctl/IPConn"
        );
        assert_eq!(
            wan_ip.scpd_url.as_str(),
            "http://192.168.77.1:5000/WANIPCn.xml"
        );
        assert_eq!(
            wan_ip.event_sub_url.as_ref().map(Url::as_str),
            Some("http://192.168.77.1:5000/evt/IPConn")
        );
    }

    #[test]
    fn url_base_wins_over_location_and_relative_urls_resolve() {
        let doc = br#"<?xml version="1.0"?>
            <root xmlns="urn:schemas-upnp-org:device-1-0">
              <URLBase>http://10.0.0.1:49152/upnp/</URLBase>
              <device><deviceType>urn:x</deviceType>
                <serviceList>
                  <service><serviceType>urn:s:1</serviceType><serviceId>id</serviceId>
                    <SCPDURL>scpd.xml</SCPDURL><controlURL>/control?x=1</controlURL><eventSubURL></eventSubURL></service>
                  <service><serviceType>urn:broken</serviceType><SCPDURL>a.xml</SCPDURL></service>
                  <service><SCPDURL>a.xml</SCPDURL><controlURL>c</controlURL></service>
                </serviceList>
              </device>
            </root>"#;
        let description = Description::parse(doc, &location()).unwrap();
        assert_eq!(description.base.as_str(), "http://10.0.0.1:49152/upnp/");
        let services: Vec<_> = description.services().collect();
        assert_eq!(services.len(), 1);
        assert_eq!(
            services[0].scpd_url.as_str(),
            "http://10.0.0.1:49152/upnp/scpd.xml"
        );
        assert_eq!(
            services[0].control_url.as_str(),
            "http://10.0.0.1:49152/control?x=1"
        );
        assert_eq!(services[0].event_sub_url, None);
    }

    #[test]
    fn unusable_url_base_falls_back_to_location() {
        let doc = b"<root><URLBase>not a url</URLBase><device><serviceList><service>\
            <serviceType>urn:s:1</serviceType><SCPDURL>/s.xml</SCPDURL><controlURL>/c</controlURL>\
            </service></serviceList></device></root>";
        let description = Description::parse(doc, &location()).unwrap();
        assert_eq!(description.base, location());
        assert_eq!(
            description.services().next().unwrap().control_url.as_str(),
            "http://192.168.77.1:5000/c"
        );
    }

    #[test]
    fn missing_root_or_device_is_a_typed_error() {
        assert!(matches!(
            Description::parse(b"<scpd/>", &location()),
            Err(Error::MissingElement {
                element: "root",
                ..
            })
        ));
        assert!(matches!(
            Description::parse(b"<root><specVersion/></root>", &location()),
            Err(Error::MissingElement {
                element: "device",
                ..
            })
        ));
    }

    #[test]
    fn latin1_free_text_is_tolerated_but_not_in_types_or_urls() {
        let mut doc = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><root><device><friendlyName>Bo\xeete</friendlyName><serviceList>".to_vec();
        doc.extend_from_slice(b"<service><serviceType>urn:s:1</serviceType><SCPDURL>/s.xml</SCPDURL><controlURL>/c</controlURL></service>");
        doc.extend_from_slice(b"<service><serviceType>urn:\xe9:1</serviceType><SCPDURL>/s.xml</SCPDURL><controlURL>/c</controlURL></service>");
        doc.extend_from_slice(b"<service><serviceType>urn:t:1</serviceType><SCPDURL>/s.xml</SCPDURL><controlURL>/\xe9</controlURL></service>");
        doc.extend_from_slice(b"</serviceList></device></root>");
        let description = Description::parse(&doc, &location()).unwrap();
        assert_eq!(description.device.friendly_name, "Bo\u{fffd}te");
        let types: Vec<_> = description
            .services()
            .map(|s| s.service_type.as_str())
            .collect();
        assert_eq!(types, ["urn:s:1"]);
    }

    #[test]
    fn versions_are_backward_compatible() {
        let description = Description::parse(MINIUPNPD, &location()).unwrap();
        let v1 = description
            .find_service("urn:schemas-upnp-org:service:WANIPConnection:1")
            .unwrap();
        assert_eq!(
            v1.service_type,
            "urn:schemas-upnp-org:service:WANIPConnection:2"
        );
        assert!(
            description
                .find_service("urn:schemas-upnp-org:service:WANIPConnection:3")
                .is_none()
        );
        assert!(
            description
                .find_service("urn:schemas-upnp-org:service:WANIPConnection")
                .is_none()
        );
        assert!(type_satisfies("urn:a:service:X:3", "urn:a:service:X:1"));
        assert!(!type_satisfies("urn:a:service:X:1", "urn:a:service:X:2"));
        assert!(!type_satisfies("urn:a:service:Y:2", "urn:a:service:X:1"));
        assert!(type_satisfies("upnp:rootdevice", "upnp:rootdevice"));
        assert_eq!(
            split_type("urn:a:service:X:12"),
            Some(("urn:a:service:X", 12))
        );
        assert_eq!(split_type("urn:a:service:X:"), None);
        assert_eq!(split_type("urn:a:service:X:+1"), None);
    }

    #[test]
    fn truncated_descriptions_are_errors_not_panics() {
        for end in (0..MINIUPNPD.len()).step_by(7) {
            let _ = Description::parse(&MINIUPNPD[..end], &location());
        }
        assert!(matches!(
            Description::parse(&MINIUPNPD[..MINIUPNPD.len() / 2], &location()),
            Err(Error::Xml { .. })
        ));
    }
}
