//! Bounded XML parsing for documents that come from routers, plus the helpers the parsers
//! share (child lookup by local name, text, escaping).
//!
//! Router data is untrusted. Before `xmltree` sees a document, a cheap scan refuses:
//! - documents over [`MAX_DOCUMENT_SIZE`] bytes;
//! - any `<!DOCTYPE` (or other `<!` markup that is not a comment or CDATA): UPnP documents
//!   never carry one, and a document type declaration is where entities are defined, so this
//!   removes "billion laughs" and external entities before xml-rs could expand them (xml-rs
//!   would expand internal entities up to 1 MB each, which is already too much here);
//! - nesting deeper than [`MAX_DEPTH`]: `xmltree` builds its tree recursively, so depth
//!   would otherwise be bounded only by the stack;
//! - more than [`MAX_ELEMENTS`] elements, and documents with no element at all (`xmltree`
//!   assumes xml-rs rejects those and would otherwise reach an `unreachable!`).
//!
//! The scan over-approximates the depth the parser will reach (it skips comments, CDATA,
//! processing instructions and quoted attribute values exactly as XML does, and counts any
//! other `<` as a start tag), so it never lets through a document the tree builder would
//! recurse deeper on.

use std::borrow::Cow;

use xmltree::{Element, ParserConfig, XMLNode};

use crate::error::{Error, Result};

/// The largest document parsed, whatever the HTTP body cap.
pub(crate) const MAX_DOCUMENT_SIZE: usize = 4 << 20;
/// The deepest element nesting accepted (UPnP descriptions nest about ten deep).
pub(crate) const MAX_DEPTH: usize = 64;
/// The most elements accepted in one document.
pub(crate) const MAX_ELEMENTS: usize = 100_000;

/// Parses untrusted XML into a tree, within the limits above. `document` names the document
/// in errors. Invalid UTF-8 is an error naming the offset of the first bad byte in `bytes`.
pub(crate) fn parse(bytes: &[u8], document: &str) -> Result<Element> {
    if declares_utf8(bytes) {
        if let Err(e) = std::str::from_utf8(bytes) {
            return Err(Error::Xml {
                document: document.to_owned(),
                reason: format!("invalid utf-8 at byte {}", e.valid_up_to()),
            });
        }
    }
    parse_checked(bytes, document)
}

/// As [`parse`], but invalid UTF-8 (a Latin-1 `friendlyName` in a document that says it is
/// UTF-8) becomes U+FFFD instead of failing the whole document. Callers must stay strict
/// where it matters: a type or URL holding U+FFFD is not to be used.
pub(crate) fn parse_tolerant(bytes: &[u8], document: &str) -> Result<Element> {
    if !declares_utf8(bytes) {
        return parse_checked(bytes, document);
    }
    match std::str::from_utf8(bytes) {
        Ok(_) => parse_checked(bytes, document),
        Err(e) => {
            tracing::debug!(
                document,
                offset = e.valid_up_to(),
                "invalid utf-8 replaced with U+FFFD"
            );
            let text = String::from_utf8_lossy(bytes);
            parse_checked(text.as_bytes(), document)
        }
    }
}

/// Whether the document is to be read as UTF-8: it has no XML declaration naming another
/// encoding (xml-rs decodes the ones it knows itself).
fn declares_utf8(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(200)];
    let Some(start) = find(head, b"<?xml") else {
        return true;
    };
    let declaration = &head[start..];
    let declaration = &declaration[..find(declaration, b"?>").unwrap_or(declaration.len())];
    let Some(at) = find(declaration, b"encoding") else {
        return true;
    };
    let value: Vec<u8> = declaration[at + 8..]
        .iter()
        .copied()
        .skip_while(|b| matches!(b, b' ' | b'=' | b'"' | b'\''))
        .take_while(|b| !matches!(b, b'"' | b'\'' | b' '))
        .collect();
    value.eq_ignore_ascii_case(b"utf-8") || value.eq_ignore_ascii_case(b"utf8") || value.is_empty()
}

fn parse_checked(bytes: &[u8], document: &str) -> Result<Element> {
    let malformed = |reason: String| Error::Xml {
        document: document.to_owned(),
        reason,
    };
    if bytes.len() > MAX_DOCUMENT_SIZE {
        return Err(malformed(format!(
            "{} bytes is more than the {MAX_DOCUMENT_SIZE} accepted",
            bytes.len()
        )));
    }
    // A UTF-8 byte order mark and whitespace before the XML declaration are common router
    // quirks that xml-rs refuses.
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let bytes = &bytes[start..];
    scan(bytes).map_err(malformed)?;

    let mut config = ParserConfig::new()
        .trim_whitespace(false)
        .ignore_comments(true)
        .cdata_to_characters(true)
        .coalesce_characters(true)
        .ignore_end_of_stream(false);
    config.allow_multiple_root_elements = false;
    config.max_entity_expansion_length = 0;
    config.max_entity_expansion_depth = 0;
    config.max_attributes = 256;
    config.max_name_length = 4096;
    config.max_attribute_length = MAX_DOCUMENT_SIZE;
    config.max_data_length = MAX_DOCUMENT_SIZE;
    Element::parse_with_config(bytes, config)
        .map_err(|e| malformed(lowercase_first(&e.to_string())))
}

/// The pre-parse scan: refuses DTDs, excessive depth and element counts, and documents
/// without any element.
fn scan(bytes: &[u8]) -> std::result::Result<(), String> {
    let mut depth = 0usize;
    let mut elements = 0usize;
    let mut i = 0;
    while let Some(offset) = bytes[i..].iter().position(|&b| b == b'<') {
        i += offset;
        let rest = &bytes[i..];
        let skip_past = |end: &[u8], from: usize| {
            find(&bytes[i + from..], end).map(|p| i + from + p + end.len())
        };
        let next = if rest.starts_with(b"<!--") {
            skip_past(b"-->", 4)
        } else if rest.starts_with(b"<![CDATA[") {
            skip_past(b"]]>", 9)
        } else if rest.starts_with(b"<?") {
            skip_past(b"?>", 2)
        } else if rest.starts_with(b"<!") {
            return Err(format!(
                "markup declaration at byte {i}: document type declarations and entities are not accepted"
            ));
        } else if rest.starts_with(b"</") {
            depth = depth.saturating_sub(1);
            skip_past(b">", 2)
        } else {
            elements += 1;
            if elements > MAX_ELEMENTS {
                return Err(format!("more than {MAX_ELEMENTS} elements"));
            }
            let (end, self_closing) = match tag_end(&rest[1..]) {
                Some((end, self_closing)) => (Some(i + 1 + end + 1), self_closing),
                None => (None, false),
            };
            if !self_closing {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(format!(
                        "elements nested deeper than {MAX_DEPTH} levels at byte {i}"
                    ));
                }
            }
            end
        };
        match next {
            Some(next) => i = next,
            // Unterminated markup: the parser reports it with a position.
            None => break,
        }
    }
    if elements == 0 {
        return Err("no root element".to_owned());
    }
    Ok(())
}

/// The offset of the `>` closing a start tag (quoted attribute values skipped) and whether
/// the tag closes itself (`/>`).
fn tag_end(tag: &[u8]) -> Option<(usize, bool)> {
    let mut quote = None;
    for (index, &byte) in tag.iter().enumerate() {
        match (quote, byte) {
            (Some(q), b) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(byte),
            (None, b'>') => return Some((index, index > 0 && tag[index - 1] == b'/')),
            (None, _) => {}
        }
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The first child element whose local name is `name` (ASCII case-insensitive: routers
/// differ in the case of element names).
pub(crate) fn child<'a>(element: &'a Element, name: &str) -> Option<&'a Element> {
    children(element).find(|c| c.name.eq_ignore_ascii_case(name))
}

/// The child elements of `element`.
pub(crate) fn children(element: &Element) -> impl Iterator<Item = &Element> {
    element.children.iter().filter_map(XMLNode::as_element)
}

/// The child elements of `element` whose local name is `name`.
pub(crate) fn children_named<'a>(
    element: &'a Element,
    name: &'a str,
) -> impl Iterator<Item = &'a Element> {
    children(element).filter(move |c| c.name.eq_ignore_ascii_case(name))
}

/// The text of an element (empty when it has none), untrimmed.
pub(crate) fn text(element: &Element) -> Cow<'_, str> {
    element.get_text().unwrap_or(Cow::Borrowed(""))
}

/// The trimmed text of the child `name`, or an empty string when absent.
pub(crate) fn child_text(element: &Element, name: &str) -> String {
    child(element, name)
        .map(|c| text(c).trim().to_owned())
        .unwrap_or_default()
}

/// Escapes text for an XML element body or a double-quoted attribute value.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            c => escaped.push(c),
        }
    }
    Cow::Owned(escaped)
}

/// Whether every character of `text` may appear in an XML 1.0 document.
pub(crate) fn is_xml_text(text: &str) -> bool {
    text.chars().all(|c| {
        matches!(c, '\t' | '\n' | '\r')
            || ('\u{20}'..='\u{d7ff}').contains(&c)
            || ('\u{e000}'..='\u{fffd}').contains(&c)
            || c >= '\u{10000}'
    })
}

/// Whether `name` is a plain XML name (ASCII letters, digits, `_`, `-`, `.`, not starting
/// with a digit, `-` or `.`), safe to write as an element name.
pub(crate) fn is_plain_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && name.len() <= 256
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(bytes: &[u8]) -> String {
        match parse(bytes, "test") {
            Err(Error::Xml { reason, .. }) => reason,
            other => panic!("expected an xml error, got {other:?}"),
        }
    }

    #[test]
    fn parses_plain_documents_with_quirks() {
        let root = parse(
            b"\xef\xbb\xbf \n<?xml version=\"1.0\"?><a x='>'><b>t&amp;u</b><c/></a>",
            "t",
        )
        .unwrap();
        assert_eq!(root.name, "a");
        assert_eq!(child_text(&root, "B"), "t&u");
        assert!(child(&root, "c").is_some());
    }

    #[test]
    fn billion_laughs_is_refused_before_parsing() {
        let mut doc =
            String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n");
        for level in 1..10 {
            doc.push_str(&format!(
                "<!ENTITY lol{level} \"{}\">\n",
                format!("&lol{};", level - 1)
                    .replace("lol0", "lol")
                    .repeat(10)
            ));
        }
        doc.push_str("]>\n<root>&lol9;</root>");
        assert!(reason(doc.as_bytes()).contains("document type declarations"));
    }

    #[test]
    fn external_entities_and_any_doctype_are_refused() {
        let doc = b"<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><r>&x;</r>";
        assert!(reason(doc).contains("document type declarations"));
        assert!(reason(b"<!DOCTYPE html><html/>").contains("document type"));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let deep = "<a>".repeat(100_000);
        assert!(reason(deep.as_bytes()).contains("nested deeper"));
        let ok = format!("{}{}", "<a>".repeat(MAX_DEPTH), "</a>".repeat(MAX_DEPTH));
        assert!(parse(ok.as_bytes(), "t").is_ok());
        let too_deep = format!(
            "{}{}",
            "<a>".repeat(MAX_DEPTH + 1),
            "</a>".repeat(MAX_DEPTH + 1)
        );
        assert!(parse(too_deep.as_bytes(), "t").is_err());
    }

    #[test]
    fn self_closing_and_quoted_tags_do_not_count_as_depth() {
        let many = format!("<a>{}</a>", "<b x=\"/>\" y='&lt;>'/>".repeat(1000));
        assert!(parse(many.as_bytes(), "t").is_ok());
    }

    #[test]
    fn too_many_elements_are_refused() {
        let many = format!("<a>{}</a>", "<b/>".repeat(MAX_ELEMENTS + 1));
        assert!(reason(many.as_bytes()).contains("elements"));
    }

    #[test]
    fn empty_truncated_and_garbage_documents_are_errors() {
        for doc in [
            &b""[..],
            b"   ",
            b"<?xml version=\"1.0\"?>",
            b"<!-- only a comment -->",
            b"<![CDATA[<a>]]>",
            b"<a><b></a>",
            b"<a>",
            b"<a",
            b"\xff\xfe<\x00a\x00",
            b"<a></b>",
            b"<a/><b/>",
            b"not xml at all",
            b"<a>&unknown;</a>",
        ] {
            assert!(
                parse(doc, "t").is_err(),
                "{:?}",
                String::from_utf8_lossy(doc)
            );
        }
    }

    #[test]
    fn oversized_documents_are_refused() {
        let big = vec![b' '; MAX_DOCUMENT_SIZE + 1];
        assert!(reason(&big).contains("bytes"));
    }

    #[test]
    fn escape_covers_markup_characters() {
        assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert!(matches!(escape("plain"), Cow::Borrowed("plain")));
    }

    #[test]
    fn names_and_text_are_checked() {
        assert!(is_plain_name("NewExternalPort"));
        assert!(is_plain_name("_x-1.2"));
        assert!(!is_plain_name(""));
        assert!(!is_plain_name("1a"));
        assert!(!is_plain_name("a b"));
        assert!(!is_plain_name("a><b"));
        assert!(is_xml_text("tab\tok é 😀"));
        assert!(!is_xml_text("nul\0"));
        assert!(!is_xml_text("\u{1}"));
    }
}
