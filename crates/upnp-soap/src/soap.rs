//! SOAP 1.1 as UPnP uses it: the request envelope, the `SOAPAction` header, and the pure
//! parser of a response (out arguments or a fault).

use xmltree::{Element, EmitterConfig};

use crate::error::{Error, Result, UpnpError};
use crate::xml;

/// The `Content-Type` of every control request.
pub const CONTENT_TYPE: &str = "text/xml; charset=\"utf-8\"";

/// The out arguments of an action, in the order the SCPD lists them (values the device
/// sent that the SCPD does not list follow, in the order received).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Arguments(Vec<(String, String)>);

impl Arguments {
    /// The value of the argument `name` (exact match), if the device returned it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The arguments as `(name, value)` pairs, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The number of arguments.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `(name, value)` pairs.
    pub fn into_vec(self) -> Vec<(String, String)> {
        self.0
    }

    /// Reorders the arguments: those named in `order` first, in that order, then the rest
    /// as they were.
    pub(crate) fn ordered_by<'a>(self, order: impl IntoIterator<Item = &'a str>) -> Arguments {
        let mut rest = self.0;
        let mut ordered = Vec::with_capacity(rest.len());
        for name in order {
            if let Some(index) = rest.iter().position(|(n, _)| n == name) {
                ordered.push(rest.remove(index));
            }
        }
        ordered.extend(rest);
        Arguments(ordered)
    }
}

impl From<Vec<(String, String)>> for Arguments {
    fn from(pairs: Vec<(String, String)>) -> Arguments {
        Arguments(pairs)
    }
}

impl IntoIterator for Arguments {
    type Item = (String, String);
    type IntoIter = std::vec::IntoIter<(String, String)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// What a device answered to an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The action succeeded; its out arguments, in the order received.
    Success(Arguments),
    /// The device refused the action.
    Fault(UpnpError),
}

/// The `SOAPAction` header value: `"<service type>#<action>"`, quotes included.
pub fn soap_action(service_type: &str, action: &str) -> String {
    format!("\"{service_type}#{action}\"")
}

/// The request envelope calling `action` of `service_type` with `arguments` in the given
/// order. Values are XML-escaped.
///
/// # Errors
/// [`Error::InvalidName`] when the action or an argument name is not a plain XML name (it
/// would be written as an element name), [`Error::NotXmlText`] when a value holds
/// characters XML cannot carry.
pub fn request_body(
    service_type: &str,
    action: &str,
    arguments: &[(&str, &str)],
) -> Result<String> {
    if !xml::is_plain_name(action) {
        return Err(Error::InvalidName {
            name: action.to_owned(),
        });
    }
    let mut body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n\
         <s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\">\
         <s:Body><u:{action} xmlns:u=\"{}\">",
        xml::escape(service_type)
    );
    for (name, value) in arguments {
        if !xml::is_plain_name(name) {
            return Err(Error::InvalidName {
                name: (*name).to_owned(),
            });
        }
        if !xml::is_xml_text(value) {
            return Err(Error::NotXmlText {
                action: action.to_owned(),
                argument: (*name).to_owned(),
            });
        }
        body.push_str(&format!("<{name}>{}</{name}>", xml::escape(value)));
    }
    body.push_str(&format!("</u:{action}></s:Body></s:Envelope>\r\n"));
    Ok(body)
}

/// Parses the body of a response to `action`: the out arguments of
/// `<actionResponse>`, or the `<UPnPError>` of a `<Fault>`.
///
/// Namespaces and prefixes are ignored and element names compared without regard to ASCII
/// case (devices differ in both). An out argument that holds elements instead of text (a
/// quirk of some devices for `NewPortListing`) comes back as that XML, serialised.
///
/// # Errors
/// [`Error::Xml`] for malformed or refused XML, [`Error::Soap`] for a document that is not a
/// SOAP envelope, a body without the expected response, or a fault without a UPnP error.
pub fn parse_response(bytes: &[u8], action: &str) -> Result<Reply> {
    let soap_error = |reason: String| Error::Soap {
        action: action.to_owned(),
        reason,
    };
    let envelope = xml::parse(bytes, "soap response")?;
    if !envelope.name.eq_ignore_ascii_case("Envelope") {
        return Err(soap_error(format!(
            "the root is <{}>, not <Envelope>",
            envelope.name
        )));
    }
    let body = xml::child(&envelope, "Body").ok_or_else(|| soap_error("no <Body>".to_owned()))?;
    if let Some(fault) = xml::child(body, "Fault") {
        return parse_fault(fault).map(Reply::Fault).ok_or_else(|| {
            let faultstring = xml::child_text(fault, "faultstring");
            soap_error(format!(
                "a fault without a upnp error code (faultstring {faultstring:?})"
            ))
        });
    }
    let wanted = format!("{action}Response");
    let response = xml::child(body, &wanted).ok_or_else(|| {
        let found: Vec<_> = xml::children(body)
            .map(|e| format!("<{}>", e.name))
            .collect();
        soap_error(format!(
            "no <{wanted}> in the body (found {})",
            if found.is_empty() {
                "nothing".to_owned()
            } else {
                found.join(", ")
            }
        ))
    })?;
    let arguments = xml::children(response)
        .map(|argument| (argument.name.clone(), argument_value(argument)))
        .collect::<Vec<_>>();
    Ok(Reply::Success(Arguments(arguments)))
}

fn argument_value(argument: &Element) -> String {
    if xml::children(argument).next().is_none() {
        return xml::text(argument).into_owned();
    }
    let mut serialised = Vec::new();
    let config = EmitterConfig::new().write_document_declaration(false);
    for child in xml::children(argument) {
        if child
            .write_with_config(&mut serialised, config.clone())
            .is_err()
        {
            return String::new();
        }
    }
    String::from_utf8(serialised).unwrap_or_default()
}

/// The `<UPnPError>` of a fault, searched in `<detail>` (or anywhere below the fault, for
/// devices that leave out `<detail>`).
fn parse_fault(fault: &Element) -> Option<UpnpError> {
    let upnp_error = find_descendant(fault, "UPnPError", 4)?;
    let code = xml::child_text(upnp_error, "errorCode").parse().ok()?;
    Some(UpnpError {
        code,
        description: xml::child_text(upnp_error, "errorDescription"),
    })
}

fn find_descendant<'a>(element: &'a Element, name: &str, depth: usize) -> Option<&'a Element> {
    if depth == 0 {
        return None;
    }
    xml::children(element).find_map(|child| {
        if child.name.eq_ignore_ascii_case(name) {
            Some(child)
        } else {
            find_descendant(child, name, depth - 1)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVICE: &str = "urn:schemas-upnp-org:service:WANIPConnection:1";

    fn envelope(body: &str) -> String {
        format!(
            "<?xml version=\"1.0\"?>\r\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" \
             s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body>{body}</s:Body></s:Envelope>\r\n"
        )
    }

    #[test]
    fn request_envelope_escapes_values() {
        let body = request_body(
            SERVICE,
            "AddPortMapping",
            &[
                ("NewPortMappingDescription", "a<b>&\"c\""),
                ("NewExternalPort", "80"),
            ],
        )
        .unwrap();
        assert!(body.contains(&format!("<u:AddPortMapping xmlns:u=\"{SERVICE}\">")));
        assert!(body.contains(
            "<NewPortMappingDescription>a&lt;b&gt;&amp;&quot;c&quot;</NewPortMappingDescription><NewExternalPort>80</NewExternalPort>"
        ));
        assert!(body.ends_with("</u:AddPortMapping></s:Body></s:Envelope>\r\n"));
        // The envelope is itself well-formed and the value round-trips.
        let parsed = xml::parse(body.as_bytes(), "t").unwrap();
        let action = xml::child(xml::child(&parsed, "Body").unwrap(), "AddPortMapping").unwrap();
        assert_eq!(
            xml::child_text(action, "NewPortMappingDescription"),
            "a<b>&\"c\""
        );
        assert_eq!(
            soap_action(SERVICE, "AddPortMapping"),
            format!("\"{SERVICE}#AddPortMapping\"")
        );
    }

    #[test]
    fn request_refuses_names_that_would_inject_markup() {
        assert!(matches!(
            request_body(SERVICE, "A><b", &[]),
            Err(Error::InvalidName { .. })
        ));
        assert!(matches!(
            request_body(SERVICE, "A", &[("x y", "1")]),
            Err(Error::InvalidName { .. })
        ));
        assert!(matches!(
            request_body(SERVICE, "A", &[("x", "\0")]),
            Err(Error::NotXmlText { .. })
        ));
    }

    #[test]
    fn success_response_gives_arguments() {
        let doc = envelope(&format!(
            "<u:GetExternalIPAddressResponse xmlns:u=\"{SERVICE}\"><NewExternalIPAddress>44.0.0.1</NewExternalIPAddress></u:GetExternalIPAddressResponse>"
        ));
        let Reply::Success(arguments) =
            parse_response(doc.as_bytes(), "GetExternalIPAddress").unwrap()
        else {
            panic!("not a success");
        };
        assert_eq!(arguments.get("NewExternalIPAddress"), Some("44.0.0.1"));
        assert_eq!(arguments.len(), 1);
    }

    #[test]
    fn empty_response_and_empty_values() {
        let doc = envelope("<m:AddPortMappingResponse xmlns:m=\"x\"/>");
        assert_eq!(
            parse_response(doc.as_bytes(), "AddPortMapping").unwrap(),
            Reply::Success(Arguments::default())
        );
        let doc = envelope(
            "<u:GetXResponse xmlns:u=\"urn:x\"><A></A><B/><C> spaced </C></u:GetXResponse>",
        );
        let Reply::Success(arguments) = parse_response(doc.as_bytes(), "GetX").unwrap() else {
            panic!()
        };
        assert_eq!(
            arguments.iter().collect::<Vec<_>>(),
            [("A", ""), ("B", ""), ("C", " spaced ")]
        );
    }

    #[test]
    fn fault_gives_upnp_error() {
        let doc = envelope(
            "<s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail>\
             <UPnPError xmlns=\"urn:schemas-upnp-org:control-1-0\"><errorCode>718</errorCode>\
             <errorDescription>ConflictInMappingEntry</errorDescription></UPnPError></detail></s:Fault>",
        );
        assert_eq!(
            parse_response(doc.as_bytes(), "AddPortMapping").unwrap(),
            Reply::Fault(UpnpError {
                code: 718,
                description: "ConflictInMappingEntry".to_owned()
            })
        );
        // Without <detail>, with odd case.
        let doc =
            envelope("<s:fault><upnperror><errorcode> 725 </errorcode></upnperror></s:fault>");
        assert_eq!(
            parse_response(doc.as_bytes(), "AddPortMapping").unwrap(),
            Reply::Fault(UpnpError {
                code: 725,
                description: String::new()
            })
        );
    }

    #[test]
    fn malformed_responses_are_typed_errors() {
        let cases: &[(&str, &str)] = &[
            ("<html><body>error</body></html>", "not <Envelope>"),
            ("<s:Envelope xmlns:s=\"x\"></s:Envelope>", "no <Body>"),
            (
                &envelope("<u:OtherResponse xmlns:u=\"urn:x\"/>"),
                "found <OtherResponse>",
            ),
            (&envelope(""), "found nothing"),
            (
                &envelope("<s:Fault><faultstring>boom</faultstring></s:Fault>"),
                "boom",
            ),
            (
                &envelope(
                    "<s:Fault><detail><UPnPError><errorCode>x</errorCode></UPnPError></detail></s:Fault>",
                ),
                "without a upnp error",
            ),
            (
                &envelope(
                    "<s:Fault><detail><UPnPError><errorCode>99999</errorCode></UPnPError></detail></s:Fault>",
                ),
                "without a upnp error",
            ),
        ];
        for (doc, wanted) in cases {
            match parse_response(doc.as_bytes(), "GetX") {
                Err(Error::Soap { reason, .. }) => assert!(reason.contains(wanted), "{reason}"),
                other => panic!("{doc}: {other:?}"),
            }
        }
        let good = envelope("<u:GetXResponse xmlns:u=\"urn:x\"><A>1</A></u:GetXResponse>");
        for end in 0..good.len() - 3 {
            assert!(
                parse_response(&good.as_bytes()[..end], "GetX").is_err(),
                "{end}"
            );
        }
    }

    #[test]
    fn element_valued_argument_is_serialised() {
        let doc = envelope(
            "<u:GetListOfPortMappingsResponse xmlns:u=\"urn:x\"><NewPortListing><p:PortMappingList xmlns:p=\"urn:x\">\
             <p:PortMappingEntry><p:NewExternalPort>1</p:NewExternalPort></p:PortMappingEntry>\
             </p:PortMappingList></NewPortListing></u:GetListOfPortMappingsResponse>",
        );
        let Reply::Success(arguments) =
            parse_response(doc.as_bytes(), "GetListOfPortMappings").unwrap()
        else {
            panic!()
        };
        let listing = arguments.get("NewPortListing").unwrap();
        assert!(listing.contains("PortMappingEntry"), "{listing}");
        assert!(xml::parse(listing.as_bytes(), "t").is_ok());
    }

    #[test]
    fn arguments_reorder_by_scpd() {
        let arguments = Arguments::from(vec![
            ("B".to_owned(), "2".to_owned()),
            ("X".to_owned(), "9".to_owned()),
            ("A".to_owned(), "1".to_owned()),
        ])
        .ordered_by(["A", "B", "C"]);
        let names: Vec<_> = arguments.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["A", "B", "X"]);
    }
}
