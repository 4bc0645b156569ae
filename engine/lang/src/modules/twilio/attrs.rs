//! The attributes each `twilio:` verb action takes, and the values each
//! attribute accepts (docs/spec/twilio.md 2.3, 2.4; docs/spec/krl-language.md 10.9.2). The
//! verbs' registration check (`check_verb` in [`super`]) uses them for
//! `with` modifiers and named arguments whose value is a literal (an error at registration, with line and column); the
//! evaluator checks every value when the action runs (a runtime error
//! naming the ruleset, rule and position). docs/twilio.md lists them.

use crate::runtime::Value;

/// What values an attribute accepts.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// Any text (a string or a number).
    Text,
    /// A URL, or an event type resolved as a callback URL (a string).
    Url,
    /// `GET` or `POST`.
    Method,
    /// `true` or `false` (a boolean or that string).
    Bool,
    /// A whole number (a number or a string of digits) in a range.
    Int {
        /// The smallest allowed.
        min: i64,
        /// The largest allowed.
        max: i64,
    },
    /// A whole number ≥ 1, or the word `auto` (Gather's `speechTimeout`).
    IntOrAuto,
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// Words of this set, separated by spaces.
    Words(&'static [&'static str]),
    /// Keys that end input: `0`–`9`, `#`, `*`; `one` allows at most one
    /// (Gather's `finishOnKey`, which may be empty).
    Keys {
        /// At most one key.
        one: bool,
    },
    /// DTMF tones: `0`–`9`, `*`, `#`, `w`.
    Digits,
    /// `man`, `woman`, `alice`, `Polly.<Name>`, `Google.<locale>-<Name>`.
    Voice,
    /// A language tag such as `en-US`.
    Language,
}

/// One attribute of a verb.
pub type Attr = (&'static str, Kind);

const METHOD: Kind = Kind::Method;
const URL: Kind = Kind::Url;
const TEXT: Kind = Kind::Text;
const BOOL: Kind = Kind::Bool;
const LOOP: Kind = Kind::Int {
    min: 0,
    max: i64::MAX,
};
const POSITIVE: Kind = Kind::Int {
    min: 1,
    max: i64::MAX,
};
const TRIM: Kind = Kind::OneOf(&["trim-silence", "do-not-trim"]);
const RECORDING_EVENTS: Kind = Kind::Words(&["in-progress", "completed", "absent"]);
/// The call-progress events of a dialled noun's `statusCallbackEvent`.
const NOUN_EVENTS: Kind = Kind::Words(&["initiated", "ringing", "answered", "completed"]);

const SAY: &[Attr] = &[
    ("voice", Kind::Voice),
    ("language", Kind::Language),
    ("loop", LOOP),
];
const PLAY: &[Attr] = &[("loop", LOOP), ("digits", Kind::Digits)];
const PAUSE: &[Attr] = &[("length", POSITIVE)];
const GATHER: &[Attr] = &[
    ("action", URL),
    ("method", METHOD),
    (
        "input",
        Kind::OneOf(&["dtmf", "speech", "dtmf speech", "speech dtmf"]),
    ),
    ("timeout", POSITIVE),
    ("finishOnKey", Kind::Keys { one: true }),
    ("numDigits", POSITIVE),
    ("speechTimeout", Kind::IntOrAuto),
    ("maxSpeechTime", POSITIVE),
    ("actionOnEmptyResult", BOOL),
    ("hints", TEXT),
    ("language", Kind::Language),
    ("speechModel", TEXT),
    ("enhanced", BOOL),
    ("profanityFilter", BOOL),
    ("bargeIn", BOOL),
    ("partialResultCallback", URL),
    ("partialResultCallbackMethod", METHOD),
];
const RECORD: &[Attr] = &[
    ("action", URL),
    ("method", METHOD),
    ("timeout", LOOP),
    ("finishOnKey", Kind::Keys { one: false }),
    ("maxLength", Kind::Int { min: 2, max: 86400 }),
    ("playBeep", BOOL),
    ("trim", TRIM),
    ("transcribe", BOOL),
    ("transcribeCallback", URL),
    ("recordingStatusCallback", URL),
    ("recordingStatusCallbackMethod", METHOD),
    ("recordingStatusCallbackEvent", RECORDING_EVENTS),
];
const SMS: &[Attr] = &[
    ("to", TEXT),
    ("from", TEXT),
    ("action", URL),
    ("method", METHOD),
    ("statusCallback", URL),
];
const DIAL: &[Attr] = &[
    ("action", URL),
    ("method", METHOD),
    ("timeout", Kind::Int { min: 5, max: 600 }),
    ("callerId", TEXT),
    (
        "record",
        Kind::OneOf(&[
            "do-not-record",
            "record-from-answer",
            "record-from-ringing",
            "record-from-answer-dual",
            "record-from-ringing-dual",
            "true",
            "false",
        ]),
    ),
    ("hangupOnStar", BOOL),
    ("timeLimit", POSITIVE),
    ("answerOnBridge", BOOL),
    ("ringTone", TEXT),
    ("trim", TRIM),
    ("recordingStatusCallback", URL),
    ("recordingStatusCallbackMethod", METHOD),
    ("recordingStatusCallbackEvent", RECORDING_EVENTS),
    (
        "recordingTrack",
        Kind::OneOf(&["both", "inbound", "outbound"]),
    ),
    ("sequential", BOOL),
    ("callReason", TEXT),
    ("referUrl", URL),
    ("referMethod", METHOD),
    ("events", TEXT),
];
/// `<Conference>`'s own attributes (`dial_conference` puts Dial's on
/// `<Dial>`; `record`, `trim` and the recording callbacks are Dial's there).
const CONFERENCE: &[Attr] = &[
    ("muted", BOOL),
    ("beep", Kind::OneOf(&["true", "false", "onEnter", "onExit"])),
    ("startConferenceOnEnter", BOOL),
    ("endConferenceOnExit", BOOL),
    ("waitUrl", URL),
    ("waitMethod", METHOD),
    ("maxParticipants", Kind::Int { min: 2, max: 250 }),
    ("region", TEXT),
    ("coach", TEXT),
    ("statusCallback", URL),
    ("statusCallbackMethod", METHOD),
    (
        "statusCallbackEvent",
        Kind::Words(&[
            "start",
            "end",
            "join",
            "leave",
            "mute",
            "hold",
            "modify",
            "speaker",
            "announcement",
        ]),
    ),
    ("participantLabel", TEXT),
    ("jitterBufferSize", TEXT),
];
const NUMBER: &[Attr] = &[
    ("sendDigits", Kind::Digits),
    ("url", URL),
    ("method", METHOD),
    ("statusCallback", URL),
    ("statusCallbackMethod", METHOD),
    ("statusCallbackEvent", NOUN_EVENTS),
    ("byoc", TEXT),
    ("machineDetection", TEXT),
];
/// `<Client>`: the identity is the text (docs/spec/twilio.md 2.3, Dial nouns).
const CLIENT: &[Attr] = &[
    ("url", URL),
    ("method", METHOD),
    ("statusCallback", URL),
    ("statusCallbackMethod", METHOD),
    ("statusCallbackEvent", NOUN_EVENTS),
];
/// `<Sip>`: the `sip:` URI is the text.
const SIP: &[Attr] = &[
    ("username", TEXT),
    ("password", TEXT),
    ("url", URL),
    ("method", METHOD),
    ("statusCallback", URL),
    ("statusCallbackMethod", METHOD),
    ("statusCallbackEvent", NOUN_EVENTS),
];
/// `<Queue>` (in a Dial: take the next caller of that queue).
const QUEUE: &[Attr] = &[
    ("url", URL),
    ("method", METHOD),
    ("reservationSid", TEXT),
    ("postWorkActivitySid", TEXT),
];
const REDIRECT: &[Attr] = &[("method", METHOD)];
const REJECT: &[Attr] = &[("reason", Kind::OneOf(&["rejected", "busy"]))];
const ENQUEUE: &[Attr] = &[
    ("action", URL),
    ("method", METHOD),
    ("waitUrl", URL),
    ("waitUrlMethod", METHOD),
    ("maxQueueSize", POSITIVE),
    ("workflowSid", TEXT),
];
const NONE: &[Attr] = &[];

/// A TwiML verb action: its name, the name it is recorded under (`raw` is
/// `raw_response`, `message` is `sms`) and its attributes in two groups
/// (`dial_conference`: Dial's, then Conference's; others: one group and an
/// empty one). The one table of the verbs: the registry's members, the
/// checks and the reply writer all read it.
pub struct Verb {
    /// The action's name (`twilio:say`).
    pub action: &'static str,
    /// The name its directive is recorded under.
    pub records: &'static str,
    /// Its attributes.
    pub attrs: &'static [Attr],
    /// More attributes (`dial_conference`: the Conference's).
    pub more: &'static [Attr],
}

const fn v(action: &'static str, attrs: &'static [Attr]) -> Verb {
    Verb {
        action,
        records: action,
        attrs,
        more: NONE,
    }
}

/// Every verb action, in the order the documentation lists them.
pub static VERBS: &[Verb] = &[
    v("say", SAY),
    v("play", PLAY),
    v("pause", PAUSE),
    v("gather_start", GATHER),
    v("gather_stop", NONE),
    v("record", RECORD),
    v("sms", SMS),
    Verb {
        records: "sms",
        ..v("message", SMS)
    },
    v("dial", DIAL),
    Verb {
        more: CONFERENCE,
        ..v("dial_conference", DIAL)
    },
    v("dial_start", DIAL),
    v("number", NUMBER),
    v("client", CLIENT),
    v("sip", SIP),
    v("queue", QUEUE),
    v("dial_stop", NONE),
    v("hangup", NONE),
    v("redirect", REDIRECT),
    v("reject", REJECT),
    v("enqueue", ENQUEUE),
    Verb {
        records: "raw_response",
        ..v("raw", NONE)
    },
    v("raw_response", NONE),
];

/// The verb action called `name`.
pub fn verb(name: &str) -> Option<&'static Verb> {
    VERBS.iter().find(|v| v.action == name)
}

/// The name a verb's directive is recorded under (`raw` → `raw_response`).
pub fn canonical(name: &str) -> &str {
    verb(name).map_or(name, |v| v.records)
}

fn groups(verb_name: &str) -> Option<(&'static [Attr], &'static [Attr])> {
    verb(verb_name).map(|v| (v.attrs, v.more))
}

/// The kind of attribute `name` of verb `verb`; `None` when the verb has
/// no such attribute (or is not a verb).
pub fn kind(verb: &str, name: &str) -> Option<Kind> {
    let (a, b) = groups(verb)?;
    a.iter().chain(b).find(|(n, _)| *n == name).map(|(_, k)| *k)
}

/// Is `verb` a verb action whose attributes are known?
pub fn is_verb(verb: &str) -> bool {
    groups(verb).is_some()
}

/// The names of `verb`'s attributes, for messages.
pub fn names(verb: &str) -> String {
    match groups(verb) {
        Some((a, b)) if !a.is_empty() || !b.is_empty() => a
            .iter()
            .chain(b)
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", "),
        _ => "none".to_string(),
    }
}

/// The message for an attribute `verb` does not take.
pub fn unknown(verb: &str, name: &str) -> String {
    match names(verb).as_str() {
        "none" => format!("`twilio:{verb}` takes no attributes (found `{name}`)"),
        list => format!("`twilio:{verb}` has no attribute `{name}` (it takes {list})"),
    }
}

/// Checks one attribute value: `Err` with the whole message (naming the
/// verb, the attribute, what it accepts and what it got).
pub fn check(verb: &str, name: &str, value: &Value) -> Result<(), String> {
    let Some(kind) = kind(verb, name) else {
        return Err(unknown(verb, name));
    };
    if value.is_null() {
        return Ok(()); // null options are dropped
    }
    if accepts(kind, value) {
        return Ok(());
    }
    Err(format!(
        "`twilio:{verb}` attribute `{name}` must be {}, not {}",
        expected(kind),
        shown(value)
    ))
}

fn shown(v: &Value) -> String {
    match v {
        Value::Str(s) => format!("{:?}", &**s),
        Value::Number(_) | Value::Bool(_) => v.to_krl_string(),
        other => {
            let t = other.type_name();
            let article = if t.starts_with(['A', 'E', 'I', 'O', 'U']) {
                "an"
            } else {
                "a"
            };
            format!("{article} {t}")
        }
    }
}

fn expected(kind: Kind) -> String {
    match kind {
        Kind::Text => "text (a string or a number)".into(),
        Kind::Url => "a URL or an event type (a string)".into(),
        Kind::Method => "GET or POST".into(),
        Kind::Bool => "true or false".into(),
        Kind::Int { min, max } if max == i64::MAX => format!("a whole number ≥ {min}"),
        Kind::Int { min, max } => format!("a whole number from {min} to {max}"),
        Kind::IntOrAuto => "a whole number ≥ 1 or \"auto\"".into(),
        Kind::OneOf(words) => format!("one of {}", quoted(words)),
        Kind::Words(words) => format!("space-separated words among {}", quoted(words)),
        Kind::Keys { one: true } => "one key (0-9, # or *) or \"\"".into(),
        Kind::Keys { one: false } => "keys among 0-9, # and *".into(),
        Kind::Digits => "DTMF digits (0-9, *, #, w)".into(),
        Kind::Voice => "man, woman, alice, Polly.<Name> or Google.<locale>-<Name>".into(),
        Kind::Language => "a language tag such as en-US".into(),
    }
}

fn quoted(words: &[&str]) -> String {
    words
        .iter()
        .map(|w| format!("\"{w}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A whole number, from a number or a string of digits (with a sign).
fn whole(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => Some(*n as i64),
        Value::Str(s) => {
            let t = s.trim();
            let digits = t.strip_prefix('-').unwrap_or(t);
            if t == s.as_ref() && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                t.parse().ok()
            } else {
                None
            }
        }
        _ => None,
    }
}

fn accepts(kind: Kind, v: &Value) -> bool {
    let s = v.as_str();
    match kind {
        Kind::Text => matches!(v, Value::Str(_) | Value::Number(_)),
        Kind::Url => s.is_some(),
        Kind::Method => matches!(s, Some("GET" | "POST")),
        Kind::Bool => matches!(v, Value::Bool(_)) || matches!(s, Some("true" | "false")),
        Kind::Int { min, max } => whole(v).is_some_and(|n| n >= min && n <= max),
        Kind::IntOrAuto => s == Some("auto") || whole(v).is_some_and(|n| n >= 1),
        Kind::OneOf(words) => match v {
            Value::Bool(b) => words.contains(&if *b { "true" } else { "false" }),
            _ => s.is_some_and(|s| words.contains(&s)),
        },
        Kind::Words(words) => s.is_some_and(|s| {
            !s.trim().is_empty() && s.split_whitespace().all(|w| words.contains(&w))
        }),
        Kind::Keys { one } => match v {
            Value::Number(n) => n.fract() == 0.0 && (0.0..=9.0).contains(n),
            _ => s.is_some_and(|s| {
                (!one || s.chars().count() <= 1)
                    && (one || !s.is_empty())
                    && s.chars()
                        .all(|c| c.is_ascii_digit() || c == '#' || c == '*')
            }),
        },
        Kind::Digits => match v {
            Value::Number(n) => n.fract() == 0.0 && *n >= 0.0,
            _ => s.is_some_and(|s| {
                !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_digit() || matches!(c, '#' | '*' | 'w' | 'W'))
            }),
        },
        Kind::Voice => s.is_some_and(|s| {
            matches!(s, "man" | "woman" | "alice")
                || ["Polly.", "Google."]
                    .iter()
                    .any(|p| s.strip_prefix(p).is_some_and(|rest| !rest.is_empty()))
        }),
        Kind::Language => s.is_some_and(|s| {
            let mut parts = s.split('-');
            let first = parts.next().unwrap_or("");
            (2..=3).contains(&first.len())
                && first.bytes().all(|b| b.is_ascii_alphabetic())
                && parts.all(|p| {
                    (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric())
                })
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(verb: &str, name: &str, v: Value) {
        if let Err(e) = check(verb, name, &v) {
            panic!("{verb} {name}={v:?}: {e}");
        }
    }

    fn bad(verb: &str, name: &str, v: Value) -> String {
        check(verb, name, &v).expect_err(&format!("{verb} {name}={v:?} passes"))
    }

    #[test]
    fn good_values_pass() {
        ok("say", "voice", Value::from("woman"));
        ok("say", "voice", Value::from("Polly.Joanna-Neural"));
        ok("say", "voice", Value::from("Google.en-US-Standard-C"));
        ok("say", "language", Value::from("en"));
        ok("say", "language", Value::from("en-gb"));
        ok("say", "loop", Value::Number(0.0));
        ok("say", "loop", Value::from("2"));
        ok("gather_start", "numDigits", Value::from("1"));
        ok("gather_start", "finishOnKey", Value::from(""));
        ok("gather_start", "finishOnKey", Value::from("#"));
        ok("gather_start", "speechTimeout", Value::from("auto"));
        ok("gather_start", "input", Value::from("dtmf speech"));
        ok("gather_start", "actionOnEmptyResult", Value::Bool(true));
        ok("record", "finishOnKey", Value::from("1234567890*#"));
        ok(
            "record",
            "recordingStatusCallbackEvent",
            Value::from("in-progress completed"),
        );
        ok("dial", "record", Value::Bool(true));
        ok("dial", "timeout", Value::Number(30.0));
        ok("dial_conference", "beep", Value::from("onEnter"));
        ok("dial_conference", "timeout", Value::Number(20.0));
        ok("number", "sendDigits", Value::from("ww1234#"));
        ok(
            "client",
            "statusCallbackEvent",
            Value::from("ringing answered"),
        );
        ok("client", "url", Value::from("/whisper"));
        ok("sip", "username", Value::from("admin"));
        ok("sip", "password", Value::Number(1234.0));
        ok("sip", "method", Value::from("GET"));
        ok("queue", "reservationSid", Value::from("WR123"));
        ok("queue", "postWorkActivitySid", Value::from("WA456"));
        ok("play", "digits", Value::from("w1"));
        ok("redirect", "method", Value::from("GET"));
        ok("reject", "reason", Value::from("busy"));
        ok("message", "to", Value::from("+15550001"));
        ok("pause", "length", Value::Number(3.0));
        ok("say", "voice", Value::Null);
    }

    #[test]
    fn bad_values_and_unknown_attributes_say_what_is_wanted() {
        assert_eq!(
            bad("say", "voice", Value::Number(3.0)),
            "`twilio:say` attribute `voice` must be man, woman, alice, Polly.<Name> or Google.<locale>-<Name>, not 3"
        );
        assert_eq!(
            bad("say", "loop", Value::from("x")),
            "`twilio:say` attribute `loop` must be a whole number ≥ 0, not \"x\""
        );
        assert_eq!(
            bad("gather_start", "method", Value::from("PUT")),
            "`twilio:gather_start` attribute `method` must be GET or POST, not \"PUT\""
        );
        assert_eq!(
            bad("say", "foo", Value::Number(1.0)),
            "`twilio:say` has no attribute `foo` (it takes voice, language, loop)"
        );
        assert_eq!(
            bad("hangup", "foo", Value::Number(1.0)),
            "`twilio:hangup` takes no attributes (found `foo`)"
        );
        bad("say", "loop", Value::Number(-1.0));
        bad("say", "loop", Value::Number(1.5));
        bad("gather_start", "finishOnKey", Value::from("#*"));
        bad("gather_start", "numDigits", Value::Number(0.0));
        bad("gather_start", "input", Value::from("voice"));
        bad("dial", "timeout", Value::Number(3.0));
        bad("dial", "hangupOnStar", Value::from("yes"));
        bad(
            "record",
            "recordingStatusCallbackEvent",
            Value::from("done"),
        );
        bad("reject", "reason", Value::from("nope"));
        bad("say", "language", Value::from("english please"));
        bad("play", "digits", Value::from("12x"));
        bad("pause", "length", Value::from("long"));
        bad("dial_conference", "maxParticipants", Value::Number(500.0));
        bad("redirect", "action", Value::from("x"));
        assert_eq!(
            bad("client", "sendDigits", Value::from("1")),
            "`twilio:client` has no attribute `sendDigits` (it takes url, method, statusCallback, statusCallbackMethod, statusCallbackEvent)"
        );
        assert_eq!(
            bad("sip", "statusCallbackEvent", Value::from("hangup")),
            "`twilio:sip` attribute `statusCallbackEvent` must be space-separated words among \"initiated\", \"ringing\", \"answered\", \"completed\", not \"hangup\""
        );
        assert_eq!(
            bad("queue", "method", Value::from("PUT")),
            "`twilio:queue` attribute `method` must be GET or POST, not \"PUT\""
        );
        bad("queue", "waitUrl", Value::from("x"));
        bad("sip", "url", Value::Number(1.0));
        bad("client", "method", Value::Bool(true));
    }
}
