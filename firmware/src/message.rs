//! The messages on the wire: reading what arrives on `twilio` and on the
//! shadow topic, and writing the device's Outgoing messages and shadow
//! documents. The shapes are the MQTT contract in docs/firmware.md.
//!
//! Everything here is a pure function of its input: the stateful parts
//! (duplicate `MessageSid`s, counters, the clock) are in [`crate::device`].

use core::fmt;

use heapless::String;

use crate::json::{self, members, top_object, JsonError, Overflow, RawStr, Value};
use crate::reverse::reverse_into;

/// The longest body the device accepts, in characters (Unicode scalar
/// values). The bridge rule forwards only bodies of at most 160
/// characters; the device checks again rather than trust it.
pub const MAX_BODY_CHARS: usize = 160;
/// Bytes for a body of [`MAX_BODY_CHARS`] characters of up to 4 bytes.
pub const MAX_BODY_BYTES: usize = MAX_BODY_CHARS * 4;
/// Bytes for `To`/`From`: E.164 (`+` and 15 digits), short codes,
/// alphanumeric sender ids and channel addresses (`whatsapp:+1…`) fit.
pub const MAX_NUMBER_BYTES: usize = 64;
/// Bytes for a `MessageSid` (Twilio's are 34).
pub const MAX_SID_BYTES: usize = 64;
/// Bytes for the power-on message's media URL.
pub const MAX_MEDIA_URL_BYTES: usize = 512;
/// The largest payload the device reads on any topic. The MQTT client's
/// receive buffer must hold it; larger payloads are rejected unread.
pub const MAX_PAYLOAD_BYTES: usize = 4096;
/// The longest device id (it names the MQTT client and the shadow topic).
pub const MAX_ID_BYTES: usize = 32;
/// The longest topic name.
pub const MAX_TOPIC_BYTES: usize = 128;
/// The shortest shadow report interval other than 0 (off).
pub const MIN_REPORT_INTERVAL_MS: u64 = 1_000;

/// The constant parts of the largest Outgoing message.
const OUTGOING_FRAME: &str = r#"{"Type":"Outgoing","To":,"From":,"Body":,"MediaUrl":}"#;

/// The size of every payload the device writes. Numbers and URLs hold no
/// control characters (checked), so escaping at most doubles them; a
/// body's control characters cost six bytes each. So every Outgoing
/// message and shadow document fits, and a compose error cannot happen
/// (it is still an error value, never a panic).
pub const OUT_CAP: usize = OUTGOING_FRAME.len()
    + 2 * (2 * MAX_NUMBER_BYTES + 2)
    + json::escaped_max(MAX_BODY_CHARS)
    + (2 * MAX_MEDIA_URL_BYTES + 2);

pub type Number = String<MAX_NUMBER_BYTES>;
pub type Body = String<MAX_BODY_BYTES>;
pub type Sid = String<MAX_SID_BYTES>;
pub type MediaUrl = String<MAX_MEDIA_URL_BYTES>;
pub type DeviceId = String<MAX_ID_BYTES>;
pub type Topic = String<MAX_TOPIC_BYTES>;
/// A payload the device publishes.
pub type Payload = String<OUT_CAP>;

/// A field of a message, for error values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Type,
    To,
    From,
    Body,
    MessageSid,
    State,
    Desired,
    ReportIntervalMs,
}

impl Field {
    /// The JSON key.
    pub fn name(self) -> &'static str {
        match self {
            Field::Type => "Type",
            Field::To => "To",
            Field::From => "From",
            Field::Body => "Body",
            Field::MessageSid => "MessageSid",
            Field::State => "state",
            Field::Desired => "desired",
            Field::ReportIntervalMs => "report_interval_ms",
        }
    }
}

/// Why a message was refused. Nothing is published for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageError {
    /// Larger than [`MAX_PAYLOAD_BYTES`].
    PayloadTooLarge { bytes: usize },
    /// The payload is not UTF-8.
    NotUtf8,
    /// The payload is not a JSON object.
    Json(JsonError),
    /// A key the device reads appears twice.
    DuplicateField(Field),
    /// A field has the wrong JSON type (a number for `Body`, …).
    WrongType(Field),
    /// A required field is absent (or `null`).
    Missing(Field),
    /// A field is longer than its buffer.
    TooLong(Field),
    /// The body has more than [`MAX_BODY_CHARS`] characters.
    BodyTooLong { chars: usize },
    /// A field's value is not allowed: an empty number, a number with
    /// control characters, a report interval below the minimum.
    Invalid(Field),
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageError::PayloadTooLarge { bytes } => {
                write!(f, "payload of {bytes} bytes is over {MAX_PAYLOAD_BYTES}")
            }
            MessageError::NotUtf8 => f.write_str("payload is not UTF-8"),
            MessageError::Json(e) => write!(f, "payload is not a JSON object: {e:?}"),
            MessageError::DuplicateField(k) => write!(f, "duplicate key {:?}", k.name()),
            MessageError::WrongType(k) => write!(f, "{:?} has the wrong JSON type", k.name()),
            MessageError::Missing(k) => write!(f, "{:?} is missing", k.name()),
            MessageError::TooLong(k) => write!(f, "{:?} is too long", k.name()),
            MessageError::BodyTooLong { chars } => {
                write!(f, "body of {chars} characters is over {MAX_BODY_CHARS}")
            }
            MessageError::Invalid(k) => write!(f, "{:?} is not a valid value", k.name()),
        }
    }
}

/// Why a message was left unanswered, on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// `"Type":"Outgoing"` (any ASCII case): a device's own reply or
    /// power-on message, which the bridge rule sends as an SMS. Answering
    /// it would loop.
    OwnOutgoing,
    /// A `Type` other than `Incoming`/`Outgoing`.
    OtherType,
    /// `To` is not this device's number (devices may share the topic).
    NotForMe,
    /// An empty body (an MMS with only media): an SMS needs a body.
    EmptyBody,
    /// A `MessageSid` answered moments ago (a QoS 1 redelivery).
    Duplicate,
    /// A topic the device does not read.
    OtherTopic,
}

impl fmt::Display for Ignored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Ignored::OwnOutgoing => "an Outgoing message (never answered)",
            Ignored::OtherType => "a Type other than Incoming",
            Ignored::NotForMe => "addressed to another number",
            Ignored::EmptyBody => "an empty body",
            Ignored::Duplicate => "a MessageSid already answered",
            Ignored::OtherTopic => "a topic the device does not read",
        })
    }
}

/// The reply to an Incoming message: back to its sender, from the number
/// it was sent to, with the body reversed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub to: Number,
    pub from: Number,
    pub body: Body,
    /// The Incoming message's `MessageSid`, if it had one.
    pub in_reply_to: Option<Sid>,
}

/// What to do with a message on the `twilio` topic.
// No heap to box a reply into: it is returned by value, once per message.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Reply(Reply),
    Ignore(Ignored),
}

/// Check a raw payload: size, UTF-8, one JSON object. Returns the object.
fn object(payload: &[u8]) -> Result<&str, MessageError> {
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(MessageError::PayloadTooLarge {
            bytes: payload.len(),
        });
    }
    let text = core::str::from_utf8(payload).map_err(|_| MessageError::NotUtf8)?;
    top_object(text).map_err(MessageError::Json)
}

/// Store `value` in `slot` unless `key` was seen already.
fn once<'a>(
    slot: &mut Option<Value<'a>>,
    seen: &mut bool,
    field: Field,
    value: Value<'a>,
) -> Result<(), MessageError> {
    if *seen {
        return Err(MessageError::DuplicateField(field));
    }
    *seen = true;
    if value != Value::Null {
        *slot = Some(value);
    }
    Ok(())
}

fn string_field<'a>(
    v: Option<Value<'a>>,
    field: Field,
) -> Result<Option<RawStr<'a>>, MessageError> {
    match v {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(MessageError::WrongType(field)),
    }
}

/// A `To`/`From`-like value: non-empty, no control characters, fits.
fn number(s: RawStr<'_>, field: Field) -> Result<Number, MessageError> {
    let mut out = Number::new();
    s.decode_into(&mut out)
        .map_err(|_| MessageError::TooLong(field))?;
    check_plain(&out).map_err(|_| MessageError::Invalid(field))?;
    Ok(out)
}

/// Non-empty and free of control characters.
pub(crate) fn check_plain(s: &str) -> Result<(), ()> {
    if s.is_empty() || s.chars().any(char::is_control) {
        Err(())
    } else {
        Ok(())
    }
}

/// Decide what the device does with a payload that arrived on the `twilio`
/// topic. `device_number` is the device's own Twilio number, if it has one:
/// messages to other numbers are then ignored.
///
/// In order: the payload must be a JSON object of at most
/// [`MAX_PAYLOAD_BYTES`] with no duplicate `Type`/`To`/`From`/`Body`/
/// `MessageSid`; then `Type` is looked at before anything else (Outgoing
/// is ignored whatever the rest holds, so nothing the device or anyone
/// else sends as Outgoing is ever answered); then `To` (required, and
/// compared with `device_number`), `From` (required), `Body` (required, a
/// string of at most [`MAX_BODY_CHARS`] characters, non-empty), and the
/// optional `MessageSid`. Other keys are ignored.
pub fn decide(payload: &[u8], device_number: Option<&str>) -> Result<Decision, MessageError> {
    let obj = object(payload)?;

    let mut slots: [Option<Value<'_>>; 5] = [None; 5];
    let mut seen = [false; 5];
    const FIELDS: [Field; 5] = [
        Field::Type,
        Field::To,
        Field::From,
        Field::Body,
        Field::MessageSid,
    ];
    for member in members(obj) {
        let (key, value) = member.map_err(MessageError::Json)?;
        if let Some(i) = FIELDS.iter().position(|f| key.eq_str(f.name())) {
            once(&mut slots[i], &mut seen[i], FIELDS[i], value)?;
        }
    }
    let [ty, to, from, body, sid] = slots;

    match string_field(ty, Field::Type)? {
        Some(t) if t.eq_ignore_ascii_case("Outgoing") => {
            return Ok(Decision::Ignore(Ignored::OwnOutgoing))
        }
        Some(t) if t.eq_ignore_ascii_case("Incoming") => {}
        Some(_) => return Ok(Decision::Ignore(Ignored::OtherType)),
        // No Type: the bridge rule's messages are Incoming.
        None => {}
    }

    let to = string_field(to, Field::To)?.ok_or(MessageError::Missing(Field::To))?;
    let to = number(to, Field::To)?;
    if let Some(mine) = device_number {
        if to.as_str() != mine {
            return Ok(Decision::Ignore(Ignored::NotForMe));
        }
    }
    let from = string_field(from, Field::From)?.ok_or(MessageError::Missing(Field::From))?;
    let from = number(from, Field::From)?;

    let body = string_field(body, Field::Body)?.ok_or(MessageError::Missing(Field::Body))?;
    let chars = body.chars().count();
    if chars > MAX_BODY_CHARS {
        return Err(MessageError::BodyTooLong { chars });
    }
    if chars == 0 {
        return Ok(Decision::Ignore(Ignored::EmptyBody));
    }
    let mut text = Body::new();
    body.decode_into(&mut text)
        .map_err(|_| MessageError::TooLong(Field::Body))?;

    let in_reply_to = match string_field(sid, Field::MessageSid)? {
        None => None,
        Some(s) => {
            let mut out = Sid::new();
            s.decode_into(&mut out)
                .map_err(|_| MessageError::TooLong(Field::MessageSid))?;
            Some(out)
        }
    };

    let mut reversed = Body::new();
    // Same byte length as `text`, which fitted.
    reverse_into(&text, &mut reversed).map_err(|_| MessageError::TooLong(Field::Body))?;
    Ok(Decision::Reply(Reply {
        to: from,
        from: to,
        body: reversed,
        in_reply_to,
    }))
}

/// Write an Outgoing message:
/// `{"Type":"Outgoing","To":…,"From":…,"Body":…}`, with `"MediaUrl":…`
/// last when there is one. `out` is cleared first.
pub fn write_outgoing<const N: usize>(
    out: &mut String<N>,
    to: &str,
    from: &str,
    body: &str,
    media_url: Option<&str>,
) -> Result<(), Overflow> {
    out.clear();
    json::push(out, r#"{"Type":"Outgoing","To":"#)?;
    json::write_str(out, to)?;
    json::push(out, r#","From":"#)?;
    json::write_str(out, from)?;
    json::push(out, r#","Body":"#)?;
    json::write_str(out, body)?;
    if let Some(url) = media_url {
        json::push(out, r#","MediaUrl":"#)?;
        json::write_str(out, url)?;
    }
    json::push(out, "}")
}

/// Write the Outgoing message for a [`Reply`].
pub fn write_reply<const N: usize>(out: &mut String<N>, reply: &Reply) -> Result<(), Overflow> {
    write_outgoing(out, &reply.to, &reply.from, &reply.body, None)
}

/// The device's state as it reports it in its shadow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reported<'a> {
    pub id: &'a str,
    pub number: Option<&'a str>,
    pub online: bool,
    pub uptime_ms: u64,
    pub report_interval_ms: u64,
    pub received: u32,
    pub replied: u32,
    pub ignored: u32,
    pub rejected: u32,
}

/// Write a shadow update document (AWS IoT device-shadow shape):
/// `{"state":{"reported":{"id":…,"number":…,"online":true,"uptime_ms":…,
/// "report_interval_ms":…,"received":…,"replied":…,"ignored":…,
/// "rejected":…}}}`; `number` only when the device has one.
pub fn write_shadow_report<const N: usize>(
    out: &mut String<N>,
    r: &Reported<'_>,
) -> Result<(), Overflow> {
    out.clear();
    json::push(out, r#"{"state":{"reported":{"id":"#)?;
    json::write_str(out, r.id)?;
    if let Some(n) = r.number {
        json::push(out, r#","number":"#)?;
        json::write_str(out, n)?;
    }
    json::push(out, r#","online":"#)?;
    json::push(out, if r.online { "true" } else { "false" })?;
    for (key, v) in [
        (r#","uptime_ms":"#, r.uptime_ms),
        (r#","report_interval_ms":"#, r.report_interval_ms),
        (r#","received":"#, u64::from(r.received)),
        (r#","replied":"#, u64::from(r.replied)),
        (r#","ignored":"#, u64::from(r.ignored)),
        (r#","rejected":"#, u64::from(r.rejected)),
    ] {
        json::push(out, key)?;
        json::write_u64(out, v)?;
    }
    json::push(out, "}}}")
}

/// Write the offline document, the MQTT last will:
/// `{"state":{"reported":{"id":…,"online":false}}}`.
pub fn write_offline<const N: usize>(out: &mut String<N>, id: &str) -> Result<(), Overflow> {
    out.clear();
    json::push(out, r#"{"state":{"reported":{"id":"#)?;
    json::write_str(out, id)?;
    json::push(out, r#","online":false}}}"#)
}

/// What a shadow document asks of the device: the keys of
/// `state.desired` it knows. Everything else (a `reported` section, the
/// device's own reports coming back, unknown desired keys) is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Desired {
    /// `state.desired.report_interval_ms`: 0 (no periodic reports) or at
    /// least [`MIN_REPORT_INTERVAL_MS`].
    pub report_interval_ms: Option<u64>,
}

/// Read a shadow document: `{"state":{"desired":{"report_interval_ms":N}}}`
/// (AWS's `/update/delta` and `/update/accepted` documents have the same
/// `state` shape).
pub fn read_shadow(payload: &[u8]) -> Result<Desired, MessageError> {
    let obj = object(payload)?;
    let mut desired = Desired::default();
    let Some(state) = find_object(obj, Field::State)? else {
        return Ok(desired);
    };
    let Some(wanted) = find_object(state, Field::Desired)? else {
        return Ok(desired);
    };
    let mut seen = false;
    for member in members(wanted) {
        let (key, value) = member.map_err(MessageError::Json)?;
        if key.eq_str(Field::ReportIntervalMs.name()) {
            if seen {
                return Err(MessageError::DuplicateField(Field::ReportIntervalMs));
            }
            seen = true;
            if value == Value::Null {
                continue;
            }
            let ms = value
                .as_u64()
                .ok_or(MessageError::WrongType(Field::ReportIntervalMs))?;
            if ms != 0 && ms < MIN_REPORT_INTERVAL_MS {
                return Err(MessageError::Invalid(Field::ReportIntervalMs));
            }
            desired.report_interval_ms = Some(ms);
        }
    }
    Ok(desired)
}

/// The object under `field` in `obj`, if any (`null` counts as absent).
fn find_object(obj: &str, field: Field) -> Result<Option<&str>, MessageError> {
    let mut found = None;
    let mut seen = false;
    for member in members(obj) {
        let (key, value) = member.map_err(MessageError::Json)?;
        if key.eq_str(field.name()) {
            if seen {
                return Err(MessageError::DuplicateField(field));
            }
            seen = true;
            found = match value {
                Value::Object(o) => Some(o),
                Value::Null => None,
                _ => return Err(MessageError::WrongType(field)),
            };
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    fn reply(payload: &str, mine: Option<&str>) -> Reply {
        match decide(payload.as_bytes(), mine) {
            Ok(Decision::Reply(r)) => r,
            other => panic!("{payload}: {other:?}"),
        }
    }

    fn ignored(payload: &str, mine: Option<&str>) -> Ignored {
        match decide(payload.as_bytes(), mine) {
            Ok(Decision::Ignore(i)) => i,
            other => panic!("{payload}: {other:?}"),
        }
    }

    fn error(payload: &[u8], mine: Option<&str>) -> MessageError {
        match decide(payload, mine) {
            Err(e) => e,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn incoming_is_answered_to_the_sender_from_the_device_number() {
        let r = reply(
            r#"{"Type":"Incoming","To":"+15550001111","From":"+15557654321","Body":"Oozy rat in a sanitary zoo.","MessageSid":"SM123"}"#,
            Some("+15550001111"),
        );
        assert_eq!(r.to.as_str(), "+15557654321");
        assert_eq!(r.from.as_str(), "+15550001111");
        assert_eq!(r.body.as_str(), ".ooz yratinas a ni tar yzoO");
        assert_eq!(r.in_reply_to.as_deref(), Some("SM123"));
        let mut out = Payload::new();
        write_reply(&mut out, &r).unwrap();
        assert_eq!(
            out.as_str(),
            r#"{"Type":"Outgoing","To":"+15557654321","From":"+15550001111","Body":".ooz yratinas a ni tar yzoO"}"#
        );
    }

    #[test]
    fn unicode_bodies_reverse_by_character_through_escapes() {
        // Python's json.dumps escapes non-ASCII (ensure_ascii), with
        // surrogate pairs for emoji.
        let r = reply(
            r#"{"To":"+1","From":"+2","Body":"h\u00e9llo \ud83d\udc4b \u4e16\u754c"}"#,
            None,
        );
        assert_eq!(r.body.as_str(), "界世 👋 olléh");
        let r = reply(r#"{"To":"+1","From":"+2","Body":"héllo 👋 世界"}"#, None);
        assert_eq!(r.body.as_str(), "界世 👋 olléh");
        let mut out = Payload::new();
        write_reply(&mut out, &r).unwrap();
        assert_eq!(
            out.as_str(),
            r#"{"Type":"Outgoing","To":"+2","From":"+1","Body":"界世 👋 olléh"}"#
        );
    }

    #[test]
    fn quotes_and_newlines_survive_the_round_trip() {
        let r = reply(
            r#"{"To":"+1","From":"+2","Body":"say \"hi\"\nback\\"}"#,
            None,
        );
        assert_eq!(r.body.as_str(), "\\kcab\n\"ih\" yas");
        let mut out = Payload::new();
        write_reply(&mut out, &r).unwrap();
        assert_eq!(
            out.as_str(),
            r#"{"Type":"Outgoing","To":"+2","From":"+1","Body":"\\kcab\n\"ih\" yas"}"#
        );
    }

    #[test]
    fn outgoing_is_never_answered() {
        for t in ["Outgoing", "outgoing", "OUTGOING", "OutGoing", "Outgoing"] {
            let p = std::format!(r#"{{"Type":"{t}","To":"+1","From":"+2","Body":"hi"}}"#);
            assert_eq!(ignored(&p, None), Ignored::OwnOutgoing);
        }
        // Type is looked at first: an oversized or incomplete Outgoing is
        // still ignored, not refused.
        let long = "x".repeat(500);
        let p = std::format!(r#"{{"Body":"{long}","Type":"Outgoing"}}"#);
        assert_eq!(ignored(&p, Some("+1")), Ignored::OwnOutgoing);
        assert_eq!(
            ignored(r#"{"Type":"Outgoing"}"#, None),
            Ignored::OwnOutgoing
        );
        // An escaped key or value is the same key or value.
        assert_eq!(
            ignored(
                r#"{"T\u0079pe":"Outgoin\u0067","To":"+1","From":"+2","Body":"hi"}"#,
                None
            ),
            Ignored::OwnOutgoing
        );
        // Our own messages, fed back, are ignored.
        let mut out = Payload::new();
        write_outgoing(&mut out, "+2", "+1", "hi", Some("https://x/y.jpg")).unwrap();
        assert_eq!(ignored(&out, None), Ignored::OwnOutgoing);
    }

    #[test]
    fn duplicate_keys_are_refused() {
        assert_eq!(
            error(
                br#"{"Type":"Incoming","Type":"Outgoing","To":"+1","From":"+2","Body":"x"}"#,
                None
            ),
            MessageError::DuplicateField(Field::Type)
        );
        assert_eq!(
            error(br#"{"To":"+1","From":"+2","Body":"x","Body":"y"}"#, None),
            MessageError::DuplicateField(Field::Body)
        );
        assert_eq!(
            error(
                br#"{"To":"+1","T\u006f":"+3","From":"+2","Body":"x"}"#,
                None
            ),
            MessageError::DuplicateField(Field::To)
        );
    }

    #[test]
    fn other_types_and_other_numbers_are_ignored() {
        assert_eq!(
            ignored(
                r#"{"Type":"Status","To":"+1","From":"+2","Body":"x"}"#,
                None
            ),
            Ignored::OtherType
        );
        assert_eq!(
            ignored(
                r#"{"Type":"Incoming","To":"+1","From":"+2","Body":"x"}"#,
                Some("+9")
            ),
            Ignored::NotForMe
        );
        // Not for me wins over a body that is too long: not my message.
        let long = "x".repeat(161);
        let p = std::format!(r#"{{"To":"+1","From":"+2","Body":"{long}"}}"#);
        assert_eq!(ignored(&p, Some("+9")), Ignored::NotForMe);
        assert_eq!(
            ignored(r#"{"To":"+1","From":"+2","Body":""}"#, None),
            Ignored::EmptyBody
        );
    }

    #[test]
    fn body_bound_is_160_characters_not_bytes() {
        let ok = "é".repeat(160); // 320 bytes
        let p = std::format!(r#"{{"To":"+1","From":"+2","Body":"{ok}"}}"#);
        assert_eq!(reply(&p, None).body.chars().count(), 160);
        let emoji = "😀".repeat(160); // 640 bytes, the buffer's size
        let p = std::format!(r#"{{"To":"+1","From":"+2","Body":"{emoji}"}}"#);
        assert_eq!(reply(&p, None).body.as_str(), emoji);
        let long = "é".repeat(161);
        let p = std::format!(r#"{{"To":"+1","From":"+2","Body":"{long}"}}"#);
        assert_eq!(
            error(p.as_bytes(), None),
            MessageError::BodyTooLong { chars: 161 }
        );
        // Escapes count as the one character they stand for.
        let escaped = "\\u00e9".repeat(160);
        let p = std::format!(r#"{{"To":"+1","From":"+2","Body":"{escaped}"}}"#);
        assert_eq!(reply(&p, None).body.as_str(), ok);
    }

    #[test]
    fn bad_payloads_are_error_values() {
        let huge = std::vec![b' '; MAX_PAYLOAD_BYTES + 1];
        assert_eq!(
            error(&huge, None),
            MessageError::PayloadTooLarge {
                bytes: MAX_PAYLOAD_BYTES + 1
            }
        );
        assert_eq!(error(b"\xff{}", None), MessageError::NotUtf8);
        assert_eq!(
            error(b"not json", None),
            MessageError::Json(JsonError::NotAnObject)
        );
        assert_eq!(
            error(br#"{"To":"+1""#, None),
            MessageError::Json(JsonError::UnexpectedEnd)
        );
        assert_eq!(
            error(br#"{"From":"+2","Body":"x"}"#, None),
            MessageError::Missing(Field::To)
        );
        assert_eq!(
            error(br#"{"To":"+1","Body":"x"}"#, None),
            MessageError::Missing(Field::From)
        );
        assert_eq!(
            error(br#"{"To":"+1","From":"+2"}"#, None),
            MessageError::Missing(Field::Body)
        );
        assert_eq!(
            error(br#"{"To":"+1","From":"+2","Body":null}"#, None),
            MessageError::Missing(Field::Body)
        );
        assert_eq!(
            error(br#"{"To":"+1","From":"+2","Body":5}"#, None),
            MessageError::WrongType(Field::Body)
        );
        assert_eq!(
            error(br#"{"Type":1,"To":"+1","From":"+2","Body":"x"}"#, None),
            MessageError::WrongType(Field::Type)
        );
        assert_eq!(
            error(br#"{"To":"","From":"+2","Body":"x"}"#, None),
            MessageError::Invalid(Field::To)
        );
        assert_eq!(
            error(br#"{"To":"+1","From":"+2\n","Body":"x"}"#, None),
            MessageError::Invalid(Field::From)
        );
        let long = "1".repeat(MAX_NUMBER_BYTES + 1);
        let p = std::format!(r#"{{"To":"+1","From":"{long}","Body":"x"}}"#);
        assert_eq!(
            error(p.as_bytes(), None),
            MessageError::TooLong(Field::From)
        );
        let long = "S".repeat(MAX_SID_BYTES + 1);
        let p = std::format!(r#"{{"To":"+1","From":"+2","Body":"x","MessageSid":"{long}"}}"#);
        assert_eq!(
            error(p.as_bytes(), None),
            MessageError::TooLong(Field::MessageSid)
        );
        // A trailing NUL (the reference firmware's strlen + 1) is fine.
        reply("{\"To\":\"+1\",\"From\":\"+2\",\"Body\":\"x\"}\0", None);
        // Unknown keys of any type are skipped.
        reply(
            r#"{"AccountSid":"AC1","NumMedia":"0","Extra":{"a":[1,2,{"b":null}]},"To":"+1","From":"+2","Body":"x"}"#,
            None,
        );
        assert_eq!(
            MessageError::BodyTooLong { chars: 161 }.to_string(),
            "body of 161 characters is over 160"
        );
    }

    #[test]
    fn worst_case_outgoing_fits_out_cap() {
        let number = "\"".repeat(MAX_NUMBER_BYTES);
        let body = "\u{1}".repeat(MAX_BODY_CHARS);
        let url = "\\".repeat(MAX_MEDIA_URL_BYTES);
        let mut out = Payload::new();
        write_outgoing(&mut out, &number, &number, &body, Some(&url)).unwrap();
        assert_eq!(out.len(), OUT_CAP);
        let mut small: String<64> = String::new();
        assert_eq!(
            write_outgoing(&mut small, &number, &number, &body, None),
            Err(Overflow)
        );
    }

    #[test]
    fn power_on_message_with_and_without_media() {
        let mut out = Payload::new();
        write_outgoing(
            &mut out,
            "+15557654321",
            "+15550001111",
            "'RacecaR is a palindrome!",
            None,
        )
        .unwrap();
        assert_eq!(
            out.as_str(),
            r#"{"Type":"Outgoing","To":"+15557654321","From":"+15550001111","Body":"'RacecaR is a palindrome!"}"#
        );
        write_outgoing(
            &mut out,
            "+15557654321",
            "+15550001111",
            "hi",
            Some("https://example.com/a.jpg"),
        )
        .unwrap();
        assert_eq!(
            out.as_str(),
            r#"{"Type":"Outgoing","To":"+15557654321","From":"+15550001111","Body":"hi","MediaUrl":"https://example.com/a.jpg"}"#
        );
    }

    #[test]
    fn shadow_documents() {
        let mut out = Payload::new();
        write_shadow_report(
            &mut out,
            &Reported {
                id: "device-1",
                number: Some("+15550001111"),
                online: true,
                uptime_ms: 1234,
                report_interval_ms: 60000,
                received: 3,
                replied: 2,
                ignored: 1,
                rejected: 0,
            },
        )
        .unwrap();
        assert_eq!(
            out.as_str(),
            r#"{"state":{"reported":{"id":"device-1","number":"+15550001111","online":true,"uptime_ms":1234,"report_interval_ms":60000,"received":3,"replied":2,"ignored":1,"rejected":0}}}"#
        );
        // The device's own report asks nothing of it.
        assert_eq!(read_shadow(out.as_bytes()), Ok(Desired::default()));
        write_offline(&mut out, "device-1").unwrap();
        assert_eq!(
            out.as_str(),
            r#"{"state":{"reported":{"id":"device-1","online":false}}}"#
        );
        assert_eq!(read_shadow(out.as_bytes()), Ok(Desired::default()));
    }

    #[test]
    fn shadow_desired() {
        let read = |s: &str| read_shadow(s.as_bytes());
        assert_eq!(
            read(r#"{"state":{"desired":{"report_interval_ms":30000,"led":true}}}"#),
            Ok(Desired {
                report_interval_ms: Some(30000)
            })
        );
        assert_eq!(
            read(
                r#"{"state":{"reported":{"x":1},"desired":{"report_interval_ms":0}},"version":3}"#
            ),
            Ok(Desired {
                report_interval_ms: Some(0)
            })
        );
        assert_eq!(
            read(r#"{"state":{"desired":null}}"#),
            Ok(Desired::default())
        );
        assert_eq!(read(r#"{"other":1}"#), Ok(Desired::default()));
        assert_eq!(
            read(r#"{"state":{"desired":{"report_interval_ms":10}}}"#),
            Err(MessageError::Invalid(Field::ReportIntervalMs))
        );
        assert_eq!(
            read(r#"{"state":{"desired":{"report_interval_ms":"60000"}}}"#),
            Err(MessageError::WrongType(Field::ReportIntervalMs))
        );
        assert_eq!(
            read(r#"{"state":{"desired":{"report_interval_ms":-1}}}"#),
            Err(MessageError::WrongType(Field::ReportIntervalMs))
        );
        assert_eq!(
            read(r#"{"state":[1]}"#),
            Err(MessageError::WrongType(Field::State))
        );
        assert_eq!(
            read(r#"{"state":{},"state":{}}"#),
            Err(MessageError::DuplicateField(Field::State))
        );
        assert_eq!(read("[]"), Err(MessageError::Json(JsonError::NotAnObject)));
    }
}
