//! [`Headers`]: every header line of an SSDP message, in order, looked up without regard to
//! case.

use std::fmt;

/// The headers of an SSDP message in the order they came, names and values trimmed.
///
/// Lookups ignore ASCII case: `LOCATION`, `Location` and `location` are one name. A name may
/// occur more than once; [`Headers::get`] returns the first.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers {
    entries: Vec<(String, String)>,
}

impl Headers {
    /// An empty set of headers.
    pub fn new() -> Headers {
        Headers::default()
    }

    /// Appends a header (kept even if the name is already present).
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.entries.push((name.into(), value.into()));
    }

    /// The value of the first header called `name` (ASCII case ignored).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The values of every header called `name` (ASCII case ignored), in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.entries
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether a header called `name` is present (ASCII case ignored).
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Every `(name, value)` pair, in order, names as received.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The number of header lines.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no header at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends to the value of the last header (an obsolete folded continuation line).
    pub(crate) fn continue_last(&mut self, more: &str) -> bool {
        match self.entries.last_mut() {
            Some((_, value)) => {
                if !value.is_empty() {
                    value.push(' ');
                }
                value.push_str(more);
                true
            }
            None => false,
        }
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<N: Into<String>, V: Into<String>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Headers {
        Headers {
            entries: iter
                .into_iter()
                .map(|(n, v)| (n.into(), v.into()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_ignores_case_and_keeps_order() {
        let headers: Headers = [("Location", "a"), ("ST", "b"), ("LOCATION", "c")]
            .into_iter()
            .collect();
        assert_eq!(headers.get("location"), Some("a"));
        assert_eq!(headers.get("st"), Some("b"));
        assert_eq!(headers.get_all("LoCaTiOn").collect::<Vec<_>>(), ["a", "c"]);
        assert!(headers.contains("St"));
        assert!(!headers.contains("usn"));
        assert_eq!(headers.len(), 3);
        assert_eq!(
            format!("{headers:?}"),
            r#"{"Location": "a", "ST": "b", "LOCATION": "c"}"#
        );
    }

    #[test]
    fn continuation_appends_to_the_last_value() {
        let mut headers = Headers::new();
        assert!(!headers.continue_last("x"));
        headers.push("SERVER", "Linux/5");
        assert!(headers.continue_last("UPnP/1.1"));
        assert_eq!(headers.get("server"), Some("Linux/5 UPnP/1.1"));
    }
}
