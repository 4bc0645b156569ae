//! Well-formedness of `twilio:raw_response` XML (docs/twilio.md, "The
//! reply document"): a whole document (`<?xml ...` or `<Response ...`,
//! one `<Response>` root) or a fragment inserted where the action ran
//! (balanced elements, the five predefined entities and character
//! references, no declaration or DOCTYPE). Read with quick-xml. The
//! verbs' registration check uses [`check_raw`] on string literals (an
//! error at registration); the reply writer ([`super::reply`]) checks
//! computed ones.

use quick_xml::events::Event;
use quick_xml::reader::Reader;

/// Is `xml`, as a `raw_response` argument, a whole reply document (its
/// trimmed text starts with `<?xml` or `<Response`)? Otherwise it is a
/// fragment.
pub fn is_document(xml: &str) -> bool {
    let t = xml.trim();
    t.starts_with("<?xml") || t.starts_with("<Response")
}

/// Checks a `raw_response` argument as the reply writer will use it: the
/// trimmed text as a document ([`check_document`]) or the text as a
/// fragment ([`check_fragment`]).
pub fn check_raw(xml: &str) -> Result<(), String> {
    if is_document(xml) {
        check_document(xml.trim())
    } else {
        check_fragment(xml)
    }
}

/// An ASCII XML name: a letter or `_`, then letters, digits, `_`, `-`, `.`.
pub fn is_xml_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Is `xml` a well-formed fragment: elements, text, comments and CDATA,
/// every element closed, only the five predefined entities and character
/// references? No declaration or DOCTYPE.
pub fn check_fragment(xml: &str) -> Result<(), String> {
    let shape = scan(xml)?;
    if shape.decl || shape.doctype {
        return Err("a raw_response fragment cannot hold an XML declaration or DOCTYPE".into());
    }
    Ok(())
}

/// Is `xml` a well-formed TwiML document: an optional declaration, then
/// one `<Response>` element and nothing else but whitespace and comments?
pub fn check_document(xml: &str) -> Result<(), String> {
    let shape = scan(xml)?;
    if shape.doctype {
        return Err("a raw_response document cannot hold a DOCTYPE".into());
    }
    if shape.top_text {
        return Err("text outside the <Response> element".into());
    }
    match shape.roots.as_slice() {
        [root] if root == "Response" => Ok(()),
        [root] => Err(format!("the root element is <{root}>, not <Response>")),
        [] => Err("no <Response> element".into()),
        _ => Err("more than one root element".into()),
    }
}

/// What [`scan`] saw.
#[derive(Default)]
struct Shape {
    /// Names of the elements at the top level.
    roots: Vec<String>,
    /// Non-whitespace text (or a reference) at the top level.
    top_text: bool,
    decl: bool,
    doctype: bool,
}

/// Reads `xml` with quick-xml, checking that it is well-formed.
fn scan(xml: &str) -> Result<Shape, String> {
    let mut reader = Reader::from_str(xml);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.check_comments = true;
    let mut shape = Shape::default();
    let mut depth = 0usize;
    let mut events = 0usize;
    let at = |r: &Reader<&[u8]>| r.buffer_position();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("not well-formed XML at byte {}: {e}", at(&reader)))?;
        events += 1;
        let is_start = matches!(event, Event::Start(_));
        match event {
            Event::Start(e) | Event::Empty(e) => {
                for attr in e.attributes() {
                    let attr = attr.map_err(|e| format!("bad attribute: {e}"))?;
                    attr.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|e| format!("bad attribute value: {e}"))?;
                }
                let name = e.name().as_ref().to_string();
                if !is_xml_name(&name) && !name.contains(':') {
                    return Err(format!("bad element name {name:?}"));
                }
                if depth == 0 {
                    shape.roots.push(name);
                }
                if is_start {
                    depth += 1;
                }
            }
            Event::End(_) => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| "a closing tag without its opening tag".to_string())?;
            }
            Event::Text(t) => {
                if depth == 0 && !t.as_ref().trim().is_empty() {
                    shape.top_text = true;
                }
            }
            Event::GeneralRef(r) => {
                let known = matches!(r.as_ref(), "lt" | "gt" | "amp" | "apos" | "quot");
                let char_ref = r
                    .resolve_char_ref()
                    .map_err(|e| format!("bad character reference &{};: {e}", r.as_ref()))?
                    .is_some();
                if !known && !char_ref {
                    return Err(format!("unknown entity &{};", r.as_ref()));
                }
                if depth == 0 {
                    shape.top_text = true;
                }
            }
            Event::CData(_) => {
                if depth == 0 {
                    shape.top_text = true;
                }
            }
            Event::Decl(_) => {
                if events != 1 {
                    return Err("an XML declaration that is not at the start".into());
                }
                shape.decl = true;
            }
            Event::DocType(_) => shape.doctype = true,
            Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if depth != 0 {
        return Err(format!("{depth} element(s) not closed"));
    }
    Ok(shape)
}
