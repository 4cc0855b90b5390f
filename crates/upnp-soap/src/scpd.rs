//! The service description (SCPD): actions with their arguments, the state variables those
//! arguments relate to, and the check of a call's arguments against them.

use xmltree::Element;

use crate::error::{Error, Result};
use crate::xml;

const DOCUMENT: &str = "scpd";

/// A parsed service description.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Scpd {
    /// The actions, in document order.
    pub actions: Vec<Action>,
    /// The state variables (`serviceStateTable`), in document order.
    pub state_variables: Vec<StateVariable>,
}

/// One action of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Action {
    /// The action's name, e.g. `AddPortMapping`.
    pub name: String,
    /// The arguments, in document order (the order they are sent and returned in).
    pub arguments: Vec<Argument>,
}

/// One argument of an action.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Argument {
    /// The argument's name, e.g. `NewExternalPort`.
    pub name: String,
    /// Whether it is sent (`in`) or returned (`out`).
    pub direction: Direction,
    /// The state variable giving its type, e.g. `ExternalPort`.
    pub related_state_variable: String,
}

/// The direction of an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Sent by the control point.
    In,
    /// Returned by the device.
    Out,
}

/// One state variable: the type of the arguments related to it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StateVariable {
    /// The variable's name, e.g. `PortMappingProtocol`.
    pub name: String,
    /// The UPnP data type, lower case: `string`, `boolean`, `ui2`, `ui4`, `i4`, ...
    pub data_type: String,
    /// `defaultValue`, if any.
    pub default_value: Option<String>,
    /// `allowedValueList`, empty when any value of the type is allowed.
    pub allowed_values: Vec<String>,
    /// `allowedValueRange`, if any.
    pub allowed_range: Option<AllowedRange>,
    /// The `sendEvents` attribute (`yes` unless it says `no`).
    pub send_events: bool,
}

/// An `allowedValueRange`, as written in the SCPD.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AllowedRange {
    /// `minimum` (empty when absent).
    pub minimum: String,
    /// `maximum` (empty when absent).
    pub maximum: String,
    /// `step`, if any.
    pub step: Option<String>,
}

impl Scpd {
    /// Parses a service description document.
    ///
    /// Actions and arguments without a name are left out; an argument whose direction is
    /// not `out` counts as `in`.
    ///
    /// # Errors
    /// [`Error::Xml`] for a document that is not well-formed or is refused,
    /// [`Error::MissingElement`] when the root is not `<scpd>`.
    pub fn parse(bytes: &[u8]) -> Result<Scpd> {
        let root = xml::parse(bytes, DOCUMENT)?;
        if !root.name.eq_ignore_ascii_case("scpd") {
            return Err(Error::MissingElement {
                document: DOCUMENT.to_owned(),
                element: "scpd",
            });
        }
        let actions = xml::child(&root, "actionList")
            .map(|list| {
                xml::children_named(list, "action")
                    .filter_map(parse_action)
                    .collect()
            })
            .unwrap_or_default();
        let state_variables = xml::child(&root, "serviceStateTable")
            .map(|table| {
                xml::children_named(table, "stateVariable")
                    .filter_map(parse_state_variable)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Scpd {
            actions,
            state_variables,
        })
    }

    /// The action named `name` (exact match).
    pub fn action(&self, name: &str) -> Option<&Action> {
        self.actions.iter().find(|a| a.name == name)
    }

    /// The state variable named `name` (exact match).
    pub fn state_variable(&self, name: &str) -> Option<&StateVariable> {
        self.state_variables.iter().find(|v| v.name == name)
    }

    /// Checks the arguments of a call to `action` against this SCPD and returns them in the
    /// order the SCPD lists them (some devices insist on that order), booleans normalised to
    /// `0`/`1`. `service_type` only names the service in errors.
    ///
    /// # Errors
    /// [`Error::UnknownAction`], [`Error::MissingArgument`], [`Error::UnknownArgument`],
    /// [`Error::DuplicateArgument`], [`Error::ValueNotAllowed`], [`Error::NotANumber`],
    /// [`Error::OutOfRange`], [`Error::NotABoolean`], [`Error::NotXmlText`].
    pub fn check_arguments(
        &self,
        service_type: &str,
        action: &str,
        arguments: &[(&str, &str)],
    ) -> Result<Vec<(String, String)>> {
        let Some(spec) = self.action(action) else {
            return Err(Error::UnknownAction {
                service_type: service_type.to_owned(),
                action: action.to_owned(),
            });
        };
        for (index, (name, _)) in arguments.iter().enumerate() {
            if !spec.inputs().any(|a| a.name == *name) {
                return Err(Error::UnknownArgument {
                    action: action.to_owned(),
                    argument: (*name).to_owned(),
                });
            }
            if arguments[..index].iter().any(|(other, _)| other == name) {
                return Err(Error::DuplicateArgument {
                    action: action.to_owned(),
                    argument: (*name).to_owned(),
                });
            }
        }
        spec.inputs()
            .map(|argument| {
                let Some((_, value)) = arguments.iter().find(|(n, _)| *n == argument.name) else {
                    return Err(Error::MissingArgument {
                        action: action.to_owned(),
                        argument: argument.name.clone(),
                    });
                };
                let value = match self.state_variable(&argument.related_state_variable) {
                    Some(variable) => variable.check(action, &argument.name, value)?,
                    None => (*value).to_owned(),
                };
                if !xml::is_xml_text(&value) {
                    return Err(Error::NotXmlText {
                        action: action.to_owned(),
                        argument: argument.name.clone(),
                    });
                }
                Ok((argument.name.clone(), value))
            })
            .collect()
    }
}

impl Action {
    /// The input arguments, in order.
    pub fn inputs(&self) -> impl Iterator<Item = &Argument> {
        self.arguments
            .iter()
            .filter(|a| a.direction == Direction::In)
    }

    /// The output arguments, in order.
    pub fn outputs(&self) -> impl Iterator<Item = &Argument> {
        self.arguments
            .iter()
            .filter(|a| a.direction == Direction::Out)
    }
}

impl StateVariable {
    /// Checks `value` against the data type, allowed values and range; returns the value to
    /// send (booleans normalised to `0`/`1`).
    fn check(&self, action: &str, argument: &str, value: &str) -> Result<String> {
        let not_a_number = || Error::NotANumber {
            action: action.to_owned(),
            argument: argument.to_owned(),
            value: value.to_owned(),
            data_type: self.data_type.clone(),
        };
        let out_of_range = |range: &AllowedRange| Error::OutOfRange {
            action: action.to_owned(),
            argument: argument.to_owned(),
            value: value.to_owned(),
            minimum: range.minimum.clone(),
            maximum: range.maximum.clone(),
        };
        let integer_bounds: Option<(i128, i128)> = match self.data_type.as_str() {
            "ui1" => Some((0, u8::MAX.into())),
            "ui2" => Some((0, u16::MAX.into())),
            "ui4" => Some((0, u32::MAX.into())),
            "ui8" => Some((0, u64::MAX.into())),
            "i1" => Some((i8::MIN.into(), i8::MAX.into())),
            "i2" => Some((i16::MIN.into(), i16::MAX.into())),
            "i4" | "int" => Some((i32::MIN.into(), i32::MAX.into())),
            "i8" => Some((i64::MIN.into(), i64::MAX.into())),
            _ => None,
        };
        if let Some((low, high)) = integer_bounds {
            let number: i128 = value.parse().map_err(|_| not_a_number())?;
            if number < low || number > high {
                return Err(not_a_number());
            }
            if let Some(range) = &self.allowed_range {
                let below = range
                    .minimum
                    .trim()
                    .parse::<i128>()
                    .is_ok_and(|m| number < m);
                let above = range
                    .maximum
                    .trim()
                    .parse::<i128>()
                    .is_ok_and(|m| number > m);
                if below || above {
                    return Err(out_of_range(range));
                }
            }
        } else if matches!(
            self.data_type.as_str(),
            "r4" | "r8" | "number" | "float" | "fixed.14.4"
        ) {
            let number: f64 = value.parse().map_err(|_| not_a_number())?;
            if !number.is_finite() {
                return Err(not_a_number());
            }
            if let Some(range) = &self.allowed_range {
                let below = range
                    .minimum
                    .trim()
                    .parse::<f64>()
                    .is_ok_and(|m| number < m);
                let above = range
                    .maximum
                    .trim()
                    .parse::<f64>()
                    .is_ok_and(|m| number > m);
                if below || above {
                    return Err(out_of_range(range));
                }
            }
        } else if self.data_type == "boolean" {
            return match value.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" => Ok("1".to_owned()),
                "0" | "false" | "no" => Ok("0".to_owned()),
                _ => Err(Error::NotABoolean {
                    action: action.to_owned(),
                    argument: argument.to_owned(),
                    value: value.to_owned(),
                }),
            };
        }
        if !self.allowed_values.is_empty() && !self.allowed_values.iter().any(|v| v == value) {
            return Err(Error::ValueNotAllowed {
                action: action.to_owned(),
                argument: argument.to_owned(),
                value: value.to_owned(),
                allowed: self.allowed_values.clone(),
            });
        }
        Ok(value.to_owned())
    }
}

fn parse_action(element: &Element) -> Option<Action> {
    let name = xml::child_text(element, "name");
    if name.is_empty() {
        return None;
    }
    let arguments = xml::child(element, "argumentList")
        .map(|list| {
            xml::children_named(list, "argument")
                .filter_map(|argument| {
                    let name = xml::child_text(argument, "name");
                    if name.is_empty() {
                        return None;
                    }
                    let direction =
                        if xml::child_text(argument, "direction").eq_ignore_ascii_case("out") {
                            Direction::Out
                        } else {
                            Direction::In
                        };
                    Some(Argument {
                        name,
                        direction,
                        related_state_variable: xml::child_text(argument, "relatedStateVariable"),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Some(Action { name, arguments })
}

fn parse_state_variable(element: &Element) -> Option<StateVariable> {
    let name = xml::child_text(element, "name");
    if name.is_empty() {
        return None;
    }
    let allowed_values = xml::child(element, "allowedValueList")
        .map(|list| {
            xml::children_named(list, "allowedValue")
                .map(|v| xml::text(v).trim().to_owned())
                .collect()
        })
        .unwrap_or_default();
    let allowed_range = xml::child(element, "allowedValueRange").map(|range| AllowedRange {
        minimum: xml::child_text(range, "minimum"),
        maximum: xml::child_text(range, "maximum"),
        step: xml::child(range, "step").map(|s| xml::text(s).trim().to_owned()),
    });
    let send_events = element
        .attributes
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("sendEvents"))
        .is_none_or(|(_, value)| !value.trim().eq_ignore_ascii_case("no"));
    Some(StateVariable {
        name,
        data_type: xml::child_text(element, "dataType").to_ascii_lowercase(),
        default_value: xml::child(element, "defaultValue").map(|v| xml::text(v).trim().to_owned()),
        allowed_values,
        allowed_range,
        send_events,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const WANIPCN: &[u8] = include_bytes!("../testdata/miniupnpd/WANIPCn.xml");
    const SERVICE: &str = "urn:schemas-upnp-org:service:WANIPConnection:2";

    fn scpd() -> Scpd {
        Scpd::parse(WANIPCN).unwrap()
    }

    fn add_port_mapping<'a>() -> Vec<(&'a str, &'a str)> {
        vec![
            ("NewRemoteHost", ""),
            ("NewExternalPort", "4000"),
            ("NewProtocol", "TCP"),
            ("NewInternalPort", "4000"),
            ("NewInternalClient", "192.168.77.10"),
            ("NewEnabled", "1"),
            ("NewPortMappingDescription", "test"),
            ("NewLeaseDuration", "3600"),
        ]
    }

    #[test]
    fn miniupnpd_scpd_has_the_igd_actions() {
        let scpd = scpd();
        let names: Vec<_> = scpd.actions.iter().map(|a| a.name.as_str()).collect();
        for wanted in [
            "GetExternalIPAddress",
            "AddPortMapping",
            "AddAnyPortMapping",
            "DeletePortMapping",
            "GetSpecificPortMappingEntry",
            "GetGenericPortMappingEntry",
            "GetListOfPortMappings",
            "GetStatusInfo",
        ] {
            assert!(names.contains(&wanted), "{wanted} missing from {names:?}");
        }
        let status = scpd.action("GetStatusInfo").unwrap();
        assert_eq!(status.inputs().count(), 0);
        let outputs: Vec<_> = status.outputs().map(|a| a.name.as_str()).collect();
        assert_eq!(
            outputs,
            ["NewConnectionStatus", "NewLastConnectionError", "NewUptime"]
        );

        let protocol = scpd.state_variable("PortMappingProtocol").unwrap();
        assert_eq!(protocol.data_type, "string");
        assert_eq!(protocol.allowed_values, ["TCP", "UDP"]);
        assert!(!protocol.send_events);
        let lease = scpd.state_variable("PortMappingLeaseDuration").unwrap();
        assert_eq!(lease.data_type, "ui4");
        assert_eq!(lease.default_value.as_deref(), Some("3600"));
        let range = lease.allowed_range.as_ref().unwrap();
        assert_eq!(
            (range.minimum.as_str(), range.maximum.as_str()),
            ("0", "604800")
        );
        assert!(
            scpd.state_variable("ExternalIPAddress")
                .unwrap()
                .send_events
        );
    }

    #[test]
    fn all_captured_scpds_parse() {
        for doc in [
            &include_bytes!("../testdata/miniupnpd/L3F.xml")[..],
            include_bytes!("../testdata/miniupnpd/DP.xml"),
            include_bytes!("../testdata/miniupnpd/WANCfg.xml"),
            include_bytes!("../testdata/miniupnpd/WANIP6FC.xml"),
        ] {
            let scpd = Scpd::parse(doc).unwrap();
            assert!(!scpd.actions.is_empty());
            assert!(!scpd.state_variables.is_empty());
        }
    }

    #[test]
    fn good_arguments_come_back_in_scpd_order() {
        let mut arguments = add_port_mapping();
        arguments.reverse();
        // Reversed: index 0 is NewLeaseDuration, index 2 NewEnabled.
        arguments[0].1 = "0";
        arguments[2].1 = "yes";
        let checked = scpd()
            .check_arguments(SERVICE, "AddPortMapping", &arguments)
            .unwrap();
        let names: Vec<_> = checked.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "NewRemoteHost",
                "NewExternalPort",
                "NewProtocol",
                "NewInternalPort",
                "NewInternalClient",
                "NewEnabled",
                "NewPortMappingDescription",
                "NewLeaseDuration"
            ]
        );
        assert_eq!(checked[5].1, "1");
    }

    type Edit = dyn Fn(&mut Vec<(&'static str, &'static str)>);

    #[test]
    fn bad_arguments_are_typed_errors() {
        let scpd = scpd();
        let check = |edit: &Edit| {
            let mut arguments = add_port_mapping();
            edit(&mut arguments);
            scpd.check_arguments(SERVICE, "AddPortMapping", &arguments)
                .unwrap_err()
        };
        assert!(matches!(
            scpd.check_arguments(SERVICE, "AddPortMaping", &[]),
            Err(Error::UnknownAction { .. })
        ));
        assert!(
            matches!(check(&|a| { a.remove(1); }), Error::MissingArgument { argument, .. } if argument == "NewExternalPort")
        );
        assert!(
            matches!(check(&|a| a.push(("NewExtrnalPort", "1"))), Error::UnknownArgument { argument, .. } if argument == "NewExtrnalPort")
        );
        assert!(matches!(
            check(&|a| a.push(("NewExternalPort", "1"))),
            Error::DuplicateArgument { .. }
        ));
        assert!(
            matches!(check(&|a| a[2].1 = "tcp"), Error::ValueNotAllowed { value, allowed, .. } if value == "tcp" && allowed == ["TCP", "UDP"])
        );
        assert!(
            matches!(check(&|a| a[1].1 = "80a"), Error::NotANumber { data_type, .. } if data_type == "ui2")
        );
        assert!(matches!(
            check(&|a| a[1].1 = "65536"),
            Error::NotANumber { .. }
        ));
        assert!(matches!(
            check(&|a| a[1].1 = "-1"),
            Error::NotANumber { .. }
        ));
        assert!(matches!(check(&|a| a[1].1 = ""), Error::NotANumber { .. }));
        assert!(matches!(check(&|a| a[3].1 = "0"), Error::OutOfRange { .. }));
        assert!(
            matches!(check(&|a| a[7].1 = "604801"), Error::OutOfRange { maximum, .. } if maximum == "604800")
        );
        assert!(matches!(
            check(&|a| a[5].1 = "maybe"),
            Error::NotABoolean { .. }
        ));
        assert!(matches!(
            check(&|a| a[6].1 = "bell\u{7}"),
            Error::NotXmlText { .. }
        ));
        let message = check(&|a| a[2].1 = "tcp").to_string();
        assert_eq!(
            message,
            "AddPortMapping: \"tcp\" is not an allowed value of NewProtocol (allowed: TCP, UDP)"
        );
    }

    #[test]
    fn signed_and_real_types_are_checked() {
        let doc = br#"<scpd><actionList><action><name>Set</name><argumentList>
            <argument><name>A</name><direction>in</direction><relatedStateVariable>I</relatedStateVariable></argument>
            <argument><name>B</name><direction>IN</direction><relatedStateVariable>R</relatedStateVariable></argument>
            <argument><name>C</name><direction>in</direction><relatedStateVariable>Unknown</relatedStateVariable></argument>
            </argumentList></action></actionList><serviceStateTable>
            <stateVariable sendEvents="no"><name>I</name><dataType> I4 </dataType>
              <allowedValueRange><minimum>-5</minimum><maximum>5</maximum><step>1</step></allowedValueRange></stateVariable>
            <stateVariable><name>R</name><dataType>r8</dataType></stateVariable>
            </serviceStateTable></scpd>"#;
        let scpd = Scpd::parse(doc).unwrap();
        assert!(scpd.state_variable("R").unwrap().send_events);
        let call = |a: &'static str, b: &'static str| {
            scpd.check_arguments("urn:x", "Set", &[("A", a), ("B", b), ("C", "<anything>")])
        };
        assert!(call("-5", "1.5e3").is_ok());
        assert!(matches!(call("-6", "1"), Err(Error::OutOfRange { .. })));
        assert!(matches!(call("x", "1"), Err(Error::NotANumber { .. })));
        assert!(matches!(call("1", "NaN"), Err(Error::NotANumber { .. })));
        assert!(matches!(call("1", "abc"), Err(Error::NotANumber { .. })));
    }

    #[test]
    fn wrong_root_and_garbage_are_errors() {
        assert!(matches!(
            Scpd::parse(b"<root/>"),
            Err(Error::MissingElement {
                element: "scpd",
                ..
            })
        ));
        assert!(matches!(
            Scpd::parse(b"<scpd><actionList>"),
            Err(Error::Xml { .. })
        ));
        for end in (0..WANIPCN.len()).step_by(13) {
            let _ = Scpd::parse(&WANIPCN[..end]);
        }
    }
}
