//! The TwiML reply (docs/spec/krl-language.md 10.9.2–10.9.4, docs/spec/twilio.md 2): the
//! `twilio:` verb actions of an evaluation, recorded by the evaluator as
//! TwiML directives, written as one `<Response>` document with quick-xml.
//! The language half of the reply: the server only sends it.
//!
//! Writing happens in two steps: the verbs become a small tree (so that a
//! `<Gather>` or `<Dial>` stays open while the verbs it holds arrive),
//! then the tree is serialised. Attributes are sorted by name, values are
//! the KRL string conversion of the options, text and values are escaped,
//! and every callback URL is resolved against the public URL (10.9.4).
//! docs/twilio.md states the rules as implemented.

use super::attrs::canonical;
pub use super::xml::{check_document, check_fragment};
use super::xml::{is_document, is_xml_name};
use crate::host::{Directive, DIRECTIVE_ARG as TWIML_ARG};
use crate::runtime::Value as KrlValue;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::writer::Writer;
use std::collections::BTreeMap;

/// The XML declaration every reply starts with (docs/spec/twilio.md 1.2).
pub const DECLARATION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// The empty reply: valid TwiML that makes Twilio do nothing (a call
/// hangs up, an SMS gets no answer).
pub const EMPTY: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#;

/// One TwiML verb of an evaluation: a `twilio:` action as the evaluator
/// recorded it.
#[derive(Clone, Debug, PartialEq)]
pub struct Verb {
    /// The verb (`say`, `gather_start`, ..., `raw_response`).
    pub name: String,
    /// The modifiers (named arguments) and, under `_arg`, the positional
    /// argument. Nulls are already dropped.
    pub options: KrlValue,
    /// The ruleset whose rule ran the action (for error messages).
    pub rid: String,
    /// That rule.
    pub rule: String,
    /// 1-based line and column of the action in its ruleset, when known.
    pub line_col: Option<(usize, usize)>,
}

/// The TwiML verbs among an evaluation's directives, in order.
pub fn verbs(directives: &[Directive]) -> Vec<Verb> {
    directives
        .iter()
        .filter(|d| d.module == Some(super::DOMAIN))
        .map(|d| Verb {
            name: d.name.to_string(),
            options: d.options.clone(),
            rid: d.rid.to_string(),
            rule: d.rule_name.to_string(),
            line_col: d.line_col,
        })
        .collect()
}

/// What a reply depends on besides the verbs.
#[derive(Clone, Copy, Debug)]
pub struct ReplyContext<'a> {
    /// The engine's public URL (`--public-url`), base of callback URLs.
    pub public_url: &'a str,
    /// The channel the answered event arrived on.
    pub eci: &'a str,
    /// Is the answered event a call (its attributes hold `CallSid`)? Then
    /// `sms` writes the voice verb `<Sms>`, otherwise `<Message>`.
    pub call: bool,
}

/// A reply that cannot be written: a `raw_response` that is not
/// well-formed XML.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message} (twilio:raw_response in {rid}, rule {rule}{})", at(*.line, *.col))]
pub struct TwimlError {
    /// The ruleset of the offending action.
    pub rid: String,
    /// Its rule.
    pub rule: String,
    /// 1-based line of the action, when known.
    pub line: Option<usize>,
    /// 1-based column of the action, when known.
    pub col: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl TwimlError {
    /// The error `message` of `verb`'s raw XML.
    fn of(verb: &Verb, message: String) -> TwimlError {
        TwimlError {
            rid: verb.rid.clone(),
            rule: verb.rule.clone(),
            line: verb.line_col.map(|(l, _)| l),
            col: verb.line_col.map(|(_, c)| c),
            message,
        }
    }
}

/// `, LINE:COL` when both are known.
fn at(line: Option<usize>, col: Option<usize>) -> String {
    match (line, col) {
        (Some(l), Some(c)) => format!(", {l}:{c}"),
        _ => String::new(),
    }
}

/// The attributes of `dial_conference` that go on `<Dial>`; all others go
/// on `<Conference>`. The language's list for `dial` (10.9.2) plus the
/// attributes that only `<Dial>` has (docs/spec/twilio.md 2.3).
const DIAL_ATTRS: &[&str] = &[
    "action",
    "method",
    "timeout",
    "hangupOnStar",
    "timeLimit",
    "callerId",
    "record",
    "answerOnBridge",
    "ringTone",
    "sequential",
    "callReason",
    "referUrl",
    "referMethod",
];

/// A node of the reply being built.
#[derive(Debug)]
enum Node {
    Elem(Elem),
    /// A checked `raw_response` fragment, written as is.
    Raw(String),
}

#[derive(Debug)]
struct Elem {
    name: &'static str,
    /// Sorted by name (a `BTreeMap` keeps them so).
    attrs: BTreeMap<String, String>,
    text: Option<String>,
    children: Vec<Node>,
}

impl Elem {
    fn new(name: &'static str, attrs: BTreeMap<String, String>) -> Elem {
        Elem {
            name,
            attrs,
            text: None,
            children: Vec::new(),
        }
    }

    fn with_text(mut self, text: Option<String>) -> Elem {
        self.text = text;
        self
    }
}

/// A verb's options split into its positional argument and its
/// attributes (every other option, by string conversion, sorted).
fn split_options(verb: &Verb) -> (Option<String>, BTreeMap<String, String>) {
    let mut arg = None;
    let mut attrs = BTreeMap::new();
    if let KrlValue::Map(m) = &verb.options {
        for (k, v) in m.iter() {
            if v.is_null() {
                continue;
            }
            if &**k == TWIML_ARG {
                arg = Some(xml_chars(&v.to_krl_string()));
            } else if is_xml_name(k) {
                attrs.insert(k.to_string(), xml_chars(&v.to_krl_string()));
            }
            // any other name was refused by the verb's attribute check
        }
    }
    (arg, attrs)
}

/// Drops the characters XML 1.0 cannot hold at all (control characters
/// other than tab, newline and carriage return; U+FFFE, U+FFFF), which
/// no escape can write.
fn xml_chars(s: &str) -> String {
    s.chars()
        .filter(|&c| {
            matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
        })
        .collect()
}

/// Made only of letters, digits, `_` and `-` (and not empty).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A callback URL (docs/spec/krl-language.md 10.9.4): a value with `://` as is; one
/// starting with `/` after the public URL; an event type `TYPE` is
/// `PUBLIC/sky/event/ECI/none/twilio/TYPE`; `domain:type` is
/// `PUBLIC/sky/event/ECI/none/domain/type`; anything else as is.
pub fn callback_url(value: &str, public_url: &str, eci: &str) -> String {
    let base = public_url.trim_end_matches('/');
    if value.contains("://") {
        return value.to_string();
    }
    if value.starts_with('/') {
        return format!("{base}{value}");
    }
    if is_token(value) {
        return format!("{base}/sky/event/{eci}/none/twilio/{value}");
    }
    if let Some((domain, kind)) = value.split_once(':') {
        if is_token(domain) && is_token(kind) {
            return format!("{base}/sky/event/{eci}/none/{domain}/{kind}");
        }
    }
    value.to_string()
}

/// The TwiML document for `verbs` (docs/spec/krl-language.md 10.9.2/10.9.3): always
/// well-formed, `<Response/>` when there is nothing to say.
pub fn render(verbs: &[Verb], cx: &ReplyContext) -> Result<String, TwimlError> {
    if verbs.is_empty() {
        // A webhook whose rules said nothing (an SMS stored, a choice
        // recorded): the same document `write` makes of no nodes.
        return Ok(EMPTY.to_string());
    }
    // A raw_response that is a whole document replaces everything (the
    // last one, when there are several).
    if let Some((verb, doc)) = verbs.iter().rev().find_map(|v| {
        if canonical(&v.name) != "raw_response" {
            return None;
        }
        let (arg, _) = split_options(v);
        let arg = arg?;
        is_document(&arg).then(|| (v, arg.trim().to_string()))
    }) {
        check_document(&doc).map_err(|message| TwimlError::of(verb, message))?;
        return Ok(if doc.starts_with("<?xml") {
            doc
        } else {
            format!("{DECLARATION}{doc}")
        });
    }
    let nodes = build(verbs, cx)?;
    Ok(write(&nodes))
}

/// The reply of an apology after a failure: `<Say>TEXT</Say>`, or
/// `<Response/>` for an empty text.
pub fn apology(text: &str) -> String {
    if text.is_empty() {
        return EMPTY.to_string();
    }
    let say = Elem::new("Say", BTreeMap::new()).with_text(Some(xml_chars(text)));
    write(&[Node::Elem(say)])
}

/// Builds the tree: nesting, attributes, callback URLs.
fn build(verbs: &[Verb], cx: &ReplyContext) -> Result<Vec<Node>, TwimlError> {
    let mut out: Vec<Node> = Vec::new();
    // The open `<Gather>` or `<Dial>`, if any (they never nest).
    let mut open: Option<Elem> = None;
    fn close(out: &mut Vec<Node>, open: &mut Option<Elem>) {
        if let Some(e) = open.take() {
            out.push(Node::Elem(e));
        }
    }
    fn close_if(out: &mut Vec<Node>, open: &mut Option<Elem>, name: &str) {
        if open.as_ref().is_some_and(|e| e.name == name) {
            close(out, open);
        }
    }
    let resolve = |attrs: &mut BTreeMap<String, String>| {
        if let Some(a) = attrs.get_mut("action") {
            *a = callback_url(a, cx.public_url, cx.eci);
        }
    };
    for verb in verbs {
        let (arg, mut attrs) = split_options(verb);
        match canonical(&verb.name) {
            // Allowed inside a Gather; a Dial cannot hold them.
            v @ ("say" | "play" | "pause") => {
                close_if(&mut out, &mut open, "Dial");
                let elem = if v == "pause" {
                    if let Some(len) = arg {
                        attrs.insert("length".into(), len);
                    }
                    Elem::new("Pause", attrs)
                } else {
                    let name = if v == "say" { "Say" } else { "Play" };
                    Elem::new(name, attrs).with_text(arg)
                };
                match open.as_mut() {
                    Some(g) => g.children.push(Node::Elem(elem)),
                    None => out.push(Node::Elem(elem)),
                }
            }
            "gather_start" | "dial_start" => {
                close(&mut out, &mut open);
                let name = if canonical(&verb.name) == "gather_start" {
                    if let Some(action) = arg {
                        attrs.insert("action".into(), action);
                    }
                    "Gather"
                } else {
                    "Dial"
                };
                resolve(&mut attrs);
                open = Some(Elem::new(name, attrs));
            }
            "gather_stop" => close_if(&mut out, &mut open, "Gather"),
            "dial_stop" => close_if(&mut out, &mut open, "Dial"),
            noun @ ("number" | "client" | "sip" | "queue") => {
                close_if(&mut out, &mut open, "Gather");
                // A noun outside dial_start ... dial_stop opens a plain
                // <Dial> of its own (a <Number> alone is not TwiML).
                let name = match noun {
                    "number" => "Number",
                    "client" => "Client",
                    "sip" => "Sip",
                    _ => "Queue",
                };
                let dial = open.get_or_insert_with(|| Elem::new("Dial", BTreeMap::new()));
                dial.children
                    .push(Node::Elem(Elem::new(name, attrs).with_text(arg)));
            }
            "dial_conference" => {
                close_if(&mut out, &mut open, "Gather");
                let (mut dial_attrs, conf_attrs): (BTreeMap<_, _>, BTreeMap<_, _>) = attrs
                    .into_iter()
                    .partition(|(k, _)| DIAL_ATTRS.contains(&k.as_str()));
                resolve(&mut dial_attrs);
                let conference = Node::Elem(Elem::new("Conference", conf_attrs).with_text(arg));
                match open.as_mut() {
                    // Inside dial_start ... dial_stop: the Conference joins
                    // that Dial, which takes the Dial attributes it lacks.
                    Some(dial) => {
                        for (k, v) in dial_attrs {
                            dial.attrs.entry(k).or_insert(v);
                        }
                        dial.children.push(conference);
                    }
                    None => {
                        let mut dial = Elem::new("Dial", dial_attrs);
                        dial.children.push(conference);
                        out.push(Node::Elem(dial));
                    }
                }
            }
            "raw_response" => {
                // A fragment (a whole document was handled by `render`),
                // inserted where it ran, inside an open Gather or Dial too.
                let Some(xml) = arg else { continue };
                check_fragment(&xml).map_err(|message| TwimlError::of(verb, message))?;
                match open.as_mut() {
                    Some(e) => e.children.push(Node::Raw(xml)),
                    None => out.push(Node::Raw(xml)),
                }
            }
            other => {
                close(&mut out, &mut open);
                let elem = match other {
                    "record" => {
                        if let Some(action) = arg {
                            attrs.insert("action".into(), action);
                        }
                        resolve(&mut attrs);
                        Elem::new("Record", attrs)
                    }
                    "sms" => {
                        resolve(&mut attrs);
                        let name = if cx.call { "Sms" } else { "Message" };
                        Elem::new(name, attrs).with_text(arg)
                    }
                    "dial" => {
                        resolve(&mut attrs);
                        Elem::new("Dial", attrs).with_text(arg)
                    }
                    "redirect" => {
                        let url = arg.map(|u| callback_url(&u, cx.public_url, cx.eci));
                        Elem::new("Redirect", attrs).with_text(url)
                    }
                    "enqueue" => Elem::new("Enqueue", attrs).with_text(arg),
                    "hangup" => Elem::new("Hangup", attrs),
                    "reject" => Elem::new("Reject", attrs),
                    // the evaluator records only the verbs above
                    _ => continue,
                };
                out.push(Node::Elem(elem));
            }
        }
    }
    close(&mut out, &mut open);
    Ok(out)
}

/// Serialises the tree as the reply document.
fn write(nodes: &[Node]) -> String {
    let mut w = Writer::new(Vec::new());
    // Writing into a Vec cannot fail.
    let ok = "writing XML into memory";
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
        .expect(ok);
    if nodes.is_empty() {
        w.write_event(Event::Empty(BytesStart::new("Response")))
            .expect(ok);
    } else {
        w.write_event(Event::Start(BytesStart::new("Response")))
            .expect(ok);
        write_nodes(&mut w, nodes);
        w.write_event(Event::End(BytesEnd::new("Response")))
            .expect(ok);
    }
    String::from_utf8(w.into_inner()).expect("quick-xml writes the UTF-8 it is given")
}

fn write_nodes(w: &mut Writer<Vec<u8>>, nodes: &[Node]) {
    let ok = "writing XML into memory";
    for node in nodes {
        match node {
            Node::Raw(xml) => w.get_mut().extend_from_slice(xml.as_bytes()),
            Node::Elem(e) => {
                let start = BytesStart::new(e.name)
                    .with_attributes(e.attrs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                if e.text.is_none() && e.children.is_empty() {
                    w.write_event(Event::Empty(start)).expect(ok);
                    continue;
                }
                w.write_event(Event::Start(start)).expect(ok);
                if let Some(t) = &e.text {
                    w.write_event(Event::Text(BytesText::new(t))).expect(ok);
                }
                write_nodes(w, &e.children);
                w.write_event(Event::End(BytesEnd::new(e.name))).expect(ok);
            }
        }
    }
}

#[cfg(test)]
mod tests;
