//! Properties, on the host (proptest; serde_json as an independent JSON
//! oracle).

use std::string::{String as StdString, ToString};
use std::vec::Vec;
use std::{format, vec};

use proptest::prelude::*;
use serde_json::{json, Map, Value as Json};

use crate::device::{Clock, Config, Device, Mqtt, Outcome, QoS};
use crate::message::{
    decide, write_outgoing, Body, Decision, Ignored, MessageError, Payload, MAX_BODY_CHARS,
};
use crate::reverse::reversed;

/// Any string of at most `max` characters, any Unicode scalar values.
fn text(max: usize) -> impl Strategy<Value = StdString> {
    proptest::collection::vec(any::<char>(), 0..=max).prop_map(|v| v.into_iter().collect())
}

/// A phone-number-like value: no control characters, not empty.
fn number() -> impl Strategy<Value = StdString> {
    "(\\+[0-9]{1,15}|whatsapp:\\+[0-9]{8,15}|[A-Za-z0-9 ]{1,11}|[^\\p{Cc}]{1,16})"
}

/// A JSON object built with serde_json from `fields` (in order), plus
/// extra keys the device does not read.
fn object(fields: Vec<(&str, Json)>, extra: Vec<(StdString, Json)>) -> StdString {
    let mut m = Map::new();
    for (k, v) in extra {
        m.insert(k, v);
    }
    for (k, v) in fields {
        m.insert(k.into(), v);
    }
    Json::Object(m).to_string()
}

fn extra_keys() -> impl Strategy<Value = Vec<(StdString, Json)>> {
    proptest::collection::vec(
        (
            "[a-z][A-Za-z]{0,8}".prop_filter("not a key the device reads", |k| {
                !["Type", "To", "From", "Body", "MessageSid"].contains(&k.as_str())
            }),
            prop_oneof![
                Just(Json::Null),
                any::<bool>().prop_map(Json::from),
                any::<i64>().prop_map(Json::from),
                text(20).prop_map(Json::from),
                text(5).prop_map(|s| json!({"nested": [s, 1, {"x": null}]})),
            ],
        ),
        0..4,
    )
}

#[derive(Default)]
struct Recorder {
    published: Vec<(StdString, Vec<u8>)>,
}

impl Mqtt for Recorder {
    type Error = ();
    fn publish(&mut self, topic: &str, payload: &[u8], _qos: QoS) -> Result<(), ()> {
        self.published.push((topic.into(), payload.to_vec()));
        Ok(())
    }
    fn subscribe(&mut self, _filter: &str, _qos: QoS) -> Result<(), ()> {
        Ok(())
    }
}

struct Zero;
impl Clock for Zero {
    fn now_ms(&self) -> u64 {
        0
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn reverse_twice_is_identity(s in text(MAX_BODY_CHARS)) {
        let once: Body = reversed(&s).unwrap();
        let twice: Body = reversed(&once).unwrap();
        prop_assert_eq!(twice.as_str(), s.as_str());
        prop_assert_eq!(once.len(), s.len());
        prop_assert!(once.chars().eq(s.chars().rev()));
    }

    #[test]
    fn incoming_gets_the_reversed_body_back_to_the_sender(
        to in number(),
        from in number(),
        body in text(MAX_BODY_CHARS).prop_filter("non-empty", |b| !b.is_empty()),
        with_type in any::<bool>(),
        extra in extra_keys(),
    ) {
        let mut fields = vec![("To", Json::from(to.clone())), ("From", Json::from(from.clone())), ("Body", Json::from(body.clone()))];
        if with_type {
            fields.insert(0, ("Type", Json::from("Incoming")));
        }
        let payload = object(fields, extra);
        let decision = decide(payload.as_bytes(), Some(&to));
        let Ok(Decision::Reply(r)) = decision else {
            return Err(TestCaseError::fail(format!("{payload}: {decision:?}")));
        };
        prop_assert_eq!(r.to.as_str(), from.as_str());
        prop_assert_eq!(r.from.as_str(), to.as_str());
        let back: StdString = body.chars().rev().collect();
        prop_assert_eq!(r.body.as_str(), back.as_str());
    }

    #[test]
    fn outgoing_is_never_answered(
        ty in "[oO][uU][tT][gG][oO][iI][nN][gG]",
        to in text(80),
        from in text(80),
        body in text(400),
        extra in extra_keys(),
        shuffle in any::<u8>(),
    ) {
        let mut fields = vec![
            ("Type", Json::from(ty)),
            ("To", Json::from(to)),
            ("From", Json::from(from)),
            ("Body", Json::from(body)),
        ];
        let n = fields.len();
        fields.rotate_left(usize::from(shuffle) % n);
        let payload = object(fields, extra);
        let d = decide(payload.as_bytes(), None);
        // Never a reply: ignored, or refused only when the payload is over
        // the size the device reads at all.
        match d {
            Ok(Decision::Ignore(Ignored::OwnOutgoing)) => {}
            Err(MessageError::PayloadTooLarge { .. }) => {}
            other => return Err(TestCaseError::fail(format!("{payload}: {other:?}"))),
        }
    }

    /// The device fed everything it publishes, again and again, publishes
    /// nothing more after the first reply: no loops.
    #[test]
    fn the_device_never_answers_itself(
        to in number(),
        from in number(),
        body in text(MAX_BODY_CHARS),
        sid in proptest::option::of("SM[0-9a-f]{32}"),
        media in proptest::option::of("https://[a-z]{1,20}\\.example/[^\\p{Cc}]{0,40}"),
    ) {
        let cfg = Config::new("dev").unwrap()
            .with_number(&to).unwrap()
            .with_power_on(&from, "on", media.as_deref()).unwrap();
        let mut d = Device::new(cfg, Zero);
        let mut m = Recorder::default();
        d.start(&mut m).unwrap();
        let mut fields = vec![("Type", Json::from("Incoming")), ("To", Json::from(to)), ("From", Json::from(from)), ("Body", Json::from(body.clone()))];
        if let Some(s) = sid {
            fields.push(("MessageSid", Json::from(s)));
        }
        let incoming = object(fields, vec![]);
        d.on_message(&mut m, "twilio", incoming.as_bytes()).unwrap();
        let expected = if body.is_empty() { 2 } else { 3 };
        prop_assert_eq!(m.published.len(), expected);
        for round in 0..3 {
            let before = m.published.len();
            let all = m.published.clone();
            for (topic, payload) in &all {
                let out = d.on_message(&mut m, topic, payload).unwrap();
                prop_assert!(
                    matches!(out, Outcome::Ignored(Ignored::OwnOutgoing) | Outcome::ShadowUnchanged),
                    "round {}: {:?}", round, out
                );
            }
            prop_assert_eq!(m.published.len(), before);
        }
    }

    /// What the writer writes, serde_json reads back as the same strings.
    #[test]
    fn outgoing_is_json_with_the_same_strings(
        to in text(64),
        from in text(64),
        body in text(MAX_BODY_CHARS),
        media in proptest::option::of(text(100)),
    ) {
        let mut out = Payload::new();
        write_outgoing(&mut out, &to, &from, &body, media.as_deref()).unwrap();
        let v: Json = serde_json::from_str(&out).unwrap();
        let mut want = json!({"Type": "Outgoing", "To": to, "From": from, "Body": body});
        if let Some(u) = media {
            want["MediaUrl"] = Json::from(u);
        }
        prop_assert_eq!(v, want);
    }

    /// Arbitrary bytes never panic the reader; whatever it accepts as a
    /// reply, serde_json accepts as JSON too.
    #[test]
    fn arbitrary_payloads_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(Decision::Reply(_)) = decide(&bytes, None) {
            prop_assert!(serde_json::from_slice::<Json>(&bytes).is_ok());
        }
        let _ = crate::message::read_shadow(&bytes);
    }

    /// Mangled versions of a valid message: no panic, and a reply only
    /// for what serde_json also reads as JSON (modulo trailing NULs).
    #[test]
    fn mangled_messages_never_panic(
        body in text(20),
        cut in any::<usize>(),
        insert in any::<char>(),
        at in any::<usize>(),
    ) {
        let valid = object(vec![("To", Json::from("+1")), ("From", Json::from("+2")), ("Body", Json::from(body))], vec![]);
        let chars: Vec<char> = valid.chars().collect();
        let cut = cut % (chars.len() + 1);
        let mut mangled: Vec<char> = chars[..cut].to_vec();
        mangled.insert(at % (mangled.len() + 1), insert);
        let mangled: StdString = mangled.into_iter().collect();
        if let Ok(Decision::Reply(_)) = decide(mangled.as_bytes(), None) {
            let trimmed = mangled.trim_end_matches('\0');
            prop_assert!(serde_json::from_str::<Json>(trimmed).is_ok(), "{}", mangled);
        }
    }
}
