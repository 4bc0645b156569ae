use super::*;
use quick_xml::reader::Reader;
use serde_json::json;

const PUBLIC: &str = "https://krl.example.org";

fn cx(call: bool) -> ReplyContext<'static> {
    ReplyContext {
        public_url: PUBLIC,
        eci: "ECI",
        call,
    }
}

/// A verb as the evaluator records it: `options` holds the modifiers and
/// the positional argument under `_arg`.
fn v(name: &str, options: serde_json::Value) -> Verb {
    Verb {
        name: name.into(),
        options: KrlValue::from_json(&options),
        rid: "io.example.t".into(),
        rule: "r".into(),
        line_col: Some((7, 5)),
    }
}

/// A parsed element: name, attributes (sorted), text, children.
#[derive(Debug, PartialEq)]
struct El {
    name: String,
    attrs: Vec<(String, String)>,
    text: String,
    children: Vec<El>,
}

/// Parses a document with quick-xml (independently of the writer's own
/// checks): whitespace between elements is not significant.
fn parse(xml: &str) -> El {
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<El> = vec![El {
        name: "#doc".into(),
        attrs: vec![],
        text: String::new(),
        children: vec![],
    }];
    loop {
        let ev = reader
            .read_event()
            .unwrap_or_else(|e| panic!("not XML: {e}\n{xml}"));
        match ev {
            Event::Start(e) => stack.push(element(&e)),
            Event::Empty(e) => stack.last_mut().unwrap().children.push(element(&e)),
            Event::End(_) => {
                let el = stack.pop().unwrap();
                stack.last_mut().unwrap().children.push(el);
            }
            Event::Text(t) => {
                let t = t.xml10_content().to_string();
                stack.last_mut().unwrap().text.push_str(&t);
            }
            Event::GeneralRef(r) => {
                let s = match r.as_ref() {
                    "amp" => "&".to_string(),
                    "lt" => "<".into(),
                    "gt" => ">".into(),
                    "quot" => "\"".into(),
                    "apos" => "'".into(),
                    _ => r.resolve_char_ref().unwrap().unwrap().to_string(),
                };
                stack.last_mut().unwrap().text.push_str(&s);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(stack.len(), 1, "unclosed elements in {xml}");
    let mut doc = stack.pop().unwrap();
    assert_eq!(doc.children.len(), 1, "one root in {xml}");
    let mut root = doc.children.pop().unwrap();
    trim(&mut root);
    root
}

fn element(e: &BytesStart) -> El {
    let mut attrs: Vec<(String, String)> = e
        .attributes()
        .map(|a| {
            let a = a.unwrap();
            (
                a.key.as_ref().to_string(),
                a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    attrs.sort();
    El {
        name: e.name().as_ref().to_string(),
        attrs,
        text: String::new(),
        children: vec![],
    }
}

fn trim(el: &mut El) {
    el.text = el.text.trim().to_string();
    el.children.iter_mut().for_each(trim);
}

/// Compares two documents as XML; the actual one must also start with the
/// declaration and pass the writer's own document check.
#[track_caller]
fn assert_xml(actual: &str, expected: &str) {
    assert!(actual.starts_with(DECLARATION), "{actual}");
    check_document(actual).unwrap_or_else(|e| panic!("{e}: {actual}"));
    assert_eq!(parse(actual), parse(expected), "\n{actual}\nvs\n{expected}");
}

fn render_ok(verbs: &[Verb]) -> String {
    render(verbs, &cx(false)).unwrap()
}

#[test]
fn nothing_is_an_empty_response() {
    assert_eq!(render_ok(&[]), EMPTY);
    assert_eq!(
        EMPTY,
        r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#
    );
    // Non-TwiML verbs never get here, but an unknown name is left out.
    assert_eq!(render_ok(&[v("dance", json!({}))]), EMPTY);
}

#[test]
fn every_verb() {
    let cases: Vec<(Verb, &str)> = vec![
        (
            v(
                "say",
                json!({"_arg": "Hello", "voice": "woman", "language": "en", "loop": 2}),
            ),
            r#"<Say language="en" loop="2" voice="woman">Hello</Say>"#,
        ),
        (
            v(
                "play",
                json!({"_arg": "https://x.example/a.mp3", "loop": 0}),
            ),
            r#"<Play loop="0">https://x.example/a.mp3</Play>"#,
        ),
        (
            v("play", json!({"digits": "1w2"})),
            r#"<Play digits="1w2"/>"#,
        ),
        (v("pause", json!({"_arg": 3})), r#"<Pause length="3"/>"#),
        (v("pause", json!({})), r#"<Pause/>"#),
        (
            v(
                "record",
                json!({"_arg": "done", "maxLength": 30, "playBeep": true}),
            ),
            r#"<Record action="https://krl.example.org/sky/event/ECI/none/twilio/done" maxLength="30" playBeep="true"/>"#,
        ),
        (
            v("sms", json!({"_arg": "Hi", "to": "+15550001"})),
            r#"<Message to="+15550001">Hi</Message>"#,
        ),
        (
            v(
                "dial",
                json!({"_arg": "+15550002", "timeout": 20, "action": "dialed"}),
            ),
            r#"<Dial action="https://krl.example.org/sky/event/ECI/none/twilio/dialed" timeout="20">+15550002</Dial>"#,
        ),
        (
            v(
                "dial_conference",
                json!({"_arg": "room1", "action": "ended", "hangupOnStar": true, "muted": true, "beep": false, "waitUrl": "https://x.example/hold"}),
            ),
            r#"<Dial action="https://krl.example.org/sky/event/ECI/none/twilio/ended" hangupOnStar="true"><Conference beep="false" muted="true" waitUrl="https://x.example/hold">room1</Conference></Dial>"#,
        ),
        (v("hangup", json!({})), r#"<Hangup/>"#),
        (
            v("redirect", json!({"_arg": "menu", "method": "POST"})),
            r#"<Redirect method="POST">https://krl.example.org/sky/event/ECI/none/twilio/menu</Redirect>"#,
        ),
        (
            v("reject", json!({"reason": "busy"})),
            r#"<Reject reason="busy"/>"#,
        ),
        (
            v("enqueue", json!({"_arg": "support", "waitUrl": "/hold"})),
            r#"<Enqueue waitUrl="/hold">support</Enqueue>"#,
        ),
        (
            v("raw_response", json!({"_arg": "<Leave/>"})),
            r#"<Leave/>"#,
        ),
    ];
    for (verb, inner) in cases {
        let out = render_ok(std::slice::from_ref(&verb));
        assert_eq!(
            out,
            format!("{DECLARATION}<Response>{inner}</Response>"),
            "{}",
            verb.name
        );
        assert_xml(&out, &format!("<Response>{inner}</Response>"));
    }
}

#[test]
fn gather_holds_say_play_pause_until_gather_stop() {
    let out = render_ok(&[
        v("gather_start", json!({"_arg": "menu", "numDigits": 1})),
        v("say", json!({"_arg": "Press 1"})),
        v("play", json!({"_arg": "https://x.example/b.mp3"})),
        v("pause", json!({"_arg": 1})),
        v("gather_stop", json!({})),
        v("say", json!({"_arg": "Bye"})),
    ]);
    assert_eq!(
        out,
        format!(
            "{DECLARATION}<Response><Gather action=\"{PUBLIC}/sky/event/ECI/none/twilio/menu\" numDigits=\"1\">\
             <Say>Press 1</Say><Play>https://x.example/b.mp3</Play><Pause length=\"1\"/></Gather>\
             <Say>Bye</Say></Response>"
        )
    );
}

#[test]
fn other_verbs_close_an_open_gather_and_the_end_closes_everything() {
    let out = render_ok(&[
        v("gather_start", json!({})),
        v("say", json!({"_arg": "a"})),
        v("hangup", json!({})),
        v("say", json!({"_arg": "b"})),
        v("gather_start", json!({"_arg": "x"})),
        v("say", json!({"_arg": "c"})),
        // a second gather_start closes the first
        v("gather_start", json!({"_arg": "y"})),
        v("say", json!({"_arg": "d"})),
    ]);
    assert_xml(
        &out,
        &format!(
            "<Response><Gather><Say>a</Say></Gather><Hangup/><Say>b</Say>\
             <Gather action=\"{PUBLIC}/sky/event/ECI/none/twilio/x\"><Say>c</Say></Gather>\
             <Gather action=\"{PUBLIC}/sky/event/ECI/none/twilio/y\"><Say>d</Say></Gather></Response>"
        ),
    );
}

#[test]
fn stray_stops_are_ignored() {
    let out = render_ok(&[
        v("gather_stop", json!({})),
        v("dial_stop", json!({})),
        v("say", json!({"_arg": "x"})),
        v("gather_start", json!({})),
        v("dial_stop", json!({})), // not a Dial: the Gather stays open
        v("say", json!({"_arg": "y"})),
        v("gather_stop", json!({})),
        v("gather_stop", json!({})),
    ]);
    assert_eq!(
        out,
        format!("{DECLARATION}<Response><Say>x</Say><Gather><Say>y</Say></Gather></Response>")
    );
}

#[test]
fn dial_start_numbers_dial_stop() {
    let out = render_ok(&[
        v(
            "dial_start",
            json!({"callerId": "+15550000", "action": "/after"}),
        ),
        v("number", json!({"_arg": "+15550001", "sendDigits": "ww1"})),
        v("number", json!({"_arg": "+15550002"})),
        v("dial_stop", json!({})),
        v("say", json!({"_arg": "done"})),
    ]);
    assert_eq!(
        out,
        format!(
            "{DECLARATION}<Response><Dial action=\"{PUBLIC}/after\" callerId=\"+15550000\">\
             <Number sendDigits=\"ww1\">+15550001</Number><Number>+15550002</Number></Dial>\
             <Say>done</Say></Response>"
        )
    );
}

#[test]
fn dial_is_closed_by_verbs_it_cannot_hold_and_at_the_end() {
    let out = render_ok(&[
        v("dial_start", json!({})),
        v("number", json!({"_arg": "+1"})),
        v("say", json!({"_arg": "after"})),
        v("dial_start", json!({"timeout": 5})),
        v("number", json!({"_arg": "+2"})),
    ]);
    assert_xml(
        &out,
        "<Response><Dial><Number>+1</Number></Dial><Say>after</Say>\
         <Dial timeout=\"5\"><Number>+2</Number></Dial></Response>",
    );
}

#[test]
fn a_number_without_dial_start_gets_a_dial() {
    let out = render_ok(&[
        v("number", json!({"_arg": "+1"})),
        v("number", json!({"_arg": "+2"})),
        v("hangup", json!({})),
    ]);
    assert_eq!(
        out,
        format!("{DECLARATION}<Response><Dial><Number>+1</Number><Number>+2</Number></Dial><Hangup/></Response>")
    );
}

#[test]
fn client_sip_and_queue_join_an_open_dial() {
    let out = render_ok(&[
        v(
            "dial_start",
            json!({"action": "dialed", "callerId": "+15550000", "timeout": 20}),
        ),
        v("number", json!({"_arg": "+15550001"})),
        v(
            "client",
            json!({"_arg": "alice", "statusCallback": "https://x.example/st",
                   "statusCallbackEvent": "ringing answered", "url": "/whisper", "method": "GET"}),
        ),
        v(
            "sip",
            json!({"_arg": "sip:desk@pbx.example.com;transport=tls", "username": "desk",
                   "password": "s3<cr&t"}),
        ),
        v("dial_stop", json!({})),
        v("dial_start", json!({})),
        v(
            "queue",
            json!({"_arg": "support", "url": "https://x.example/about-to-connect",
                   "reservationSid": "WR1", "postWorkActivitySid": "WA2"}),
        ),
        v("dial_stop", json!({})),
        v("say", json!({"_arg": "bye"})),
    ]);
    // The nouns' URLs are written as given (only the Dial's action is a
    // callback URL); attributes sorted, values escaped.
    assert_eq!(
        out,
        format!(
            "{DECLARATION}<Response>\
             <Dial action=\"{PUBLIC}/sky/event/ECI/none/twilio/dialed\" callerId=\"+15550000\" timeout=\"20\">\
             <Number>+15550001</Number>\
             <Client method=\"GET\" statusCallback=\"https://x.example/st\" statusCallbackEvent=\"ringing answered\" url=\"/whisper\">alice</Client>\
             <Sip password=\"s3&lt;cr&amp;t\" username=\"desk\">sip:desk@pbx.example.com;transport=tls</Sip>\
             </Dial>\
             <Dial><Queue postWorkActivitySid=\"WA2\" reservationSid=\"WR1\" url=\"https://x.example/about-to-connect\">support</Queue></Dial>\
             <Say>bye</Say></Response>"
        )
    );
    assert_xml(
        &out,
        "<Response><Dial action=\"https://krl.example.org/sky/event/ECI/none/twilio/dialed\" callerId=\"+15550000\" timeout=\"20\">\
         <Number>+15550001</Number>\
         <Client method=\"GET\" statusCallback=\"https://x.example/st\" statusCallbackEvent=\"ringing answered\" url=\"/whisper\">alice</Client>\
         <Sip password=\"s3&lt;cr&amp;t\" username=\"desk\">sip:desk@pbx.example.com;transport=tls</Sip></Dial>\
         <Dial><Queue postWorkActivitySid=\"WA2\" reservationSid=\"WR1\" url=\"https://x.example/about-to-connect\">support</Queue></Dial>\
         <Say>bye</Say></Response>",
    );
}

#[test]
fn client_sip_and_queue_without_dial_start_get_a_dial() {
    // Each alone: a plain <Dial> of its own.
    for (verb, inner) in [
        (
            v("client", json!({"_arg": "alice", "url": "/whisper"})),
            r#"<Client url="/whisper">alice</Client>"#,
        ),
        (
            v(
                "sip",
                json!({"_arg": "sip:bob@example.com", "method": "POST"}),
            ),
            r#"<Sip method="POST">sip:bob@example.com</Sip>"#,
        ),
        (
            v("queue", json!({"_arg": "support"})),
            r#"<Queue>support</Queue>"#,
        ),
    ] {
        let out = render_ok(std::slice::from_ref(&verb));
        assert_eq!(
            out,
            format!("{DECLARATION}<Response><Dial>{inner}</Dial></Response>"),
            "{}",
            verb.name
        );
    }
    // Several in a row share that Dial (dialled at once), which a verb it
    // cannot hold closes; a Gather open before is closed first.
    let out = render_ok(&[
        v("gather_start", json!({})),
        v("client", json!({"_arg": "alice"})),
        v("sip", json!({"_arg": "sip:bob@example.com"})),
        v("number", json!({"_arg": "+1"})),
        v("hangup", json!({})),
        v("queue", json!({"_arg": "q"})),
    ]);
    assert_eq!(
        out,
        format!(
            "{DECLARATION}<Response><Gather/><Dial><Client>alice</Client><Sip>sip:bob@example.com</Sip>\
             <Number>+1</Number></Dial><Hangup/><Dial><Queue>q</Queue></Dial></Response>"
        )
    );
}

#[test]
fn a_client_with_identity_and_parameters_is_a_raw_fragment_in_the_dial() {
    // <Client><Identity>..</Identity><Parameter/></Client>: the verb
    // takes the identity as text only; the long form is a raw fragment,
    // which goes into the open Dial.
    let out = render_ok(&[
        v("dial_start", json!({"answerOnBridge": true})),
        v(
            "raw",
            json!({"_arg": "<Client><Identity>alice</Identity><Parameter name=\"ticket\" value=\"42\"/></Client>"}),
        ),
        v("dial_stop", json!({})),
    ]);
    assert_eq!(
        out,
        format!(
            "{DECLARATION}<Response><Dial answerOnBridge=\"true\"><Client><Identity>alice</Identity>\
             <Parameter name=\"ticket\" value=\"42\"/></Client></Dial></Response>"
        )
    );
}

#[test]
fn dial_conference_inside_an_open_dial_joins_it() {
    let out = render_ok(&[
        v("dial_start", json!({"timeout": 10})),
        v(
            "dial_conference",
            json!({"_arg": "room", "timeout": 99, "record": "record-from-answer", "beep": "onEnter"}),
        ),
        v("dial_stop", json!({})),
    ]);
    // The open Dial keeps its own timeout and takes the record it lacks.
    assert_eq!(
        out,
        format!(
            "{DECLARATION}<Response><Dial record=\"record-from-answer\" timeout=\"10\">\
             <Conference beep=\"onEnter\">room</Conference></Dial></Response>"
        )
    );
}

#[test]
fn a_gather_is_closed_by_number_and_dial_conference() {
    let out = render_ok(&[
        v("gather_start", json!({})),
        v("number", json!({"_arg": "+1"})),
        v("gather_start", json!({})),
        v("dial_conference", json!({"_arg": "r"})),
    ]);
    assert_xml(
        &out,
        "<Response><Gather/><Dial><Number>+1</Number></Dial><Gather/>\
         <Dial><Conference>r</Conference></Dial></Response>",
    );
}

#[test]
fn sms_is_a_voice_sms_in_a_call_and_a_message_otherwise() {
    let verbs = [v("sms", json!({"_arg": "Hi", "action": "sent"}))];
    let action = format!("{PUBLIC}/sky/event/ECI/none/twilio/sent");
    assert_eq!(
        render(&verbs, &cx(true)).unwrap(),
        format!("{DECLARATION}<Response><Sms action=\"{action}\">Hi</Sms></Response>")
    );
    assert_eq!(
        render(&verbs, &cx(false)).unwrap(),
        format!("{DECLARATION}<Response><Message action=\"{action}\">Hi</Message></Response>")
    );
    // `message` is another name of `sms`.
    assert_eq!(
        render(&[v("message", json!({"_arg": "Yo"}))], &cx(false)).unwrap(),
        format!("{DECLARATION}<Response><Message>Yo</Message></Response>")
    );
}

#[test]
fn text_and_attributes_are_escaped() {
    let out = render_ok(&[
        v("say", json!({"_arg": "Tom & Jerry <3 \"quotes\" 'single'"})),
        v("redirect", json!({"_arg": "https://x.example/a?b=1&c=<2>"})),
        v(
            "play",
            json!({"_arg": "https://x.example/p.mp3", "digits": "a&b\"c'd<e>"}),
        ),
    ]);
    assert_eq!(
        out,
        format!(
            "{DECLARATION}<Response>\
             <Say>Tom &amp; Jerry &lt;3 &quot;quotes&quot; &apos;single&apos;</Say>\
             <Redirect>https://x.example/a?b=1&amp;c=&lt;2&gt;</Redirect>\
             <Play digits=\"a&amp;b&quot;c&apos;d&lt;e&gt;\">https://x.example/p.mp3</Play>\
             </Response>"
        )
    );
    let root = parse(&out);
    assert_eq!(root.children[0].text, "Tom & Jerry <3 \"quotes\" 'single'");
    assert_eq!(root.children[1].text, "https://x.example/a?b=1&c=<2>");
    assert_eq!(
        root.children[2].attrs,
        vec![("digits".to_string(), "a&b\"c'd<e>".to_string())]
    );
}

#[test]
fn characters_xml_cannot_hold_are_dropped() {
    let out = render_ok(&[v(
        "say",
        json!({"_arg": "a\u{0}b\u{1b}c\td", "voice": "x\u{7}y"}),
    )]);
    assert_eq!(
        out,
        format!("{DECLARATION}<Response><Say voice=\"xy\">abc\td</Say></Response>")
    );
}

#[test]
fn attributes_are_sorted_and_converted_to_strings() {
    let out = render_ok(&[
        v(
            "gather_start",
            json!({"timeout": 7, "numDigits": 1, "finishOnKey": "#", "actionOnEmptyResult": true, "_arg": "menu", "input": "dtmf speech"}),
        ),
        v("gather_stop", json!({})),
        v("say", json!({"_arg": 1.5, "loop": 0})),
        v("say", json!({"_arg": true})),
    ]);
    assert_eq!(
        out,
        format!(
            "{DECLARATION}<Response><Gather action=\"{PUBLIC}/sky/event/ECI/none/twilio/menu\" \
             actionOnEmptyResult=\"true\" finishOnKey=\"#\" input=\"dtmf speech\" numDigits=\"1\" \
             timeout=\"7\"/><Say loop=\"0\">1.5</Say><Say>true</Say></Response>"
        )
    );
}

#[test]
fn names_that_are_not_xml_names_are_left_out() {
    let out = render_ok(&[v(
        "say",
        json!({"_arg": "x", "$bad": 1, "ok_name": 2, "9": 3}),
    )]);
    assert_eq!(
        out,
        format!("{DECLARATION}<Response><Say ok_name=\"2\">x</Say></Response>")
    );
}

#[test]
fn the_positional_argument_wins_over_a_modifier_of_the_same_name() {
    let out = render_ok(&[
        v("gather_start", json!({"_arg": "mine", "action": "theirs"})),
        v("gather_stop", json!({})),
        v("record", json!({"_arg": "r1", "action": "r2"})),
        v("pause", json!({"_arg": 2, "length": 9})),
    ]);
    assert_xml(
        &out,
        &format!(
            "<Response><Gather action=\"{PUBLIC}/sky/event/ECI/none/twilio/mine\"/>\
             <Record action=\"{PUBLIC}/sky/event/ECI/none/twilio/r1\"/><Pause length=\"2\"/></Response>"
        ),
    );
    // Without the positional argument (a null one is dropped by the
    // evaluator), the modifier stays.
    let out = render_ok(&[v("gather_start", json!({"action": "theirs"}))]);
    assert_xml(
        &out,
        &format!(
            "<Response><Gather action=\"{PUBLIC}/sky/event/ECI/none/twilio/theirs\"/></Response>"
        ),
    );
}

#[test]
fn callback_urls() {
    let c = |v: &str| callback_url(v, "https://p.example/base/", "E1");
    assert_eq!(c("https://x.example/a?b=c"), "https://x.example/a?b=c");
    assert_eq!(c("ftp://x"), "ftp://x");
    assert_eq!(
        c("/sky/event/X/none/a/b"),
        "https://p.example/base/sky/event/X/none/a/b"
    );
    assert_eq!(
        c("menu"),
        "https://p.example/base/sky/event/E1/none/twilio/menu"
    );
    assert_eq!(
        c("size_chosen-2"),
        "https://p.example/base/sky/event/E1/none/twilio/size_chosen-2"
    );
    assert_eq!(
        c("shop:order"),
        "https://p.example/base/sky/event/E1/none/shop/order"
    );
    // anything else as is
    assert_eq!(c("relative/path"), "relative/path");
    assert_eq!(c("a b"), "a b");
    assert_eq!(c("a:b:c"), "a:b:c");
    assert_eq!(c(""), "");
    assert_eq!(c("shop:"), "shop:");
}

#[test]
fn callback_urls_apply_to_the_callback_attributes_only() {
    let out = render_ok(&[
        v("play", json!({"_arg": "menu"})),
        v(
            "enqueue",
            json!({"_arg": "q", "action": "left", "waitUrl": "hold"}),
        ),
        v("dial", json!({"_arg": "+1", "action": "shop:dialed"})),
        v("redirect", json!({"_arg": "/x?y=1"})),
    ]);
    assert_eq!(
        out,
        format!(
            "{DECLARATION}<Response><Play>menu</Play><Enqueue action=\"left\" waitUrl=\"hold\">q</Enqueue>\
             <Dial action=\"{PUBLIC}/sky/event/ECI/none/shop/dialed\">+1</Dial>\
             <Redirect>{PUBLIC}/x?y=1</Redirect></Response>"
        )
    );
}

/// docs/spec/krl-language.md 10.2: what `welcome` produces for a call from +15550002.
#[test]
fn language_spec_10_2_classic_ruleset() {
    let out = render(
        &[
            v(
                "say",
                json!({"_arg": "Hi Kim, thanks for calling", "voice": "woman"}),
            ),
            v(
                "gather_start",
                json!({"_arg": "size_chosen", "numDigits": "1"}),
            ),
            v("say", json!({"_arg": "Press 1 for small, 2 for large"})),
            v("gather_stop", json!({})),
        ],
        &cx(true),
    )
    .unwrap();
    let expected = r#"<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Say voice="woman">Hi Kim, thanks for calling</Say>
  <Gather action="PUBLIC/sky/event/ECI/none/twilio/size_chosen" numDigits="1">
    <Say>Press 1 for small, 2 for large</Say>
  </Gather>
</Response>"#
        .replace("PUBLIC", PUBLIC);
    assert_xml(&out, &expected);
}

/// docs/spec/twilio.md 2.5, first example (our action URLs are absolute).
#[test]
fn twilio_spec_2_5_gather_example() {
    let out = render(
        &[
            v(
                "gather_start",
                json!({"_arg": "menu", "numDigits": 1, "timeout": 7}),
            ),
            v(
                "say",
                json!({"_arg": "Press 1 for sales, 2 for support.", "voice": "Polly.Joanna"}),
            ),
            v("gather_stop", json!({})),
            v("say", json!({"_arg": "We did not hear from you. Goodbye."})),
            v("hangup", json!({})),
        ],
        &cx(true),
    )
    .unwrap();
    let expected = r#"<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Gather action="PUBLIC/sky/event/ECI/none/twilio/menu" numDigits="1" timeout="7">
    <Say voice="Polly.Joanna">Press 1 for sales, 2 for support.</Say>
  </Gather>
  <Say>We did not hear from you. Goodbye.</Say>
  <Hangup/>
</Response>"#
        .replace("PUBLIC", PUBLIC);
    assert_xml(&out, &expected);
}

/// docs/spec/twilio.md 2.5, second example: Message nouns come from a raw fragment;
/// a plain `sms` writes the text itself.
#[test]
fn twilio_spec_2_5_message_example() {
    let expected = r#"<?xml version="1.0" encoding="UTF-8"?>
<Response><Message><Body>Thanks &amp; see you!</Body><Media>https://x.example/a.png</Media></Message></Response>"#
        .replace('\n', "");
    let out = render_ok(&[v(
        "raw_response",
        json!({"_arg": "<Message><Body>Thanks &amp; see you!</Body><Media>https://x.example/a.png</Media></Message>"}),
    )]);
    assert_eq!(out, expected);
    let out = render_ok(&[v("sms", json!({"_arg": "Thanks & see you!"}))]);
    assert_eq!(
        out,
        format!("{DECLARATION}<Response><Message>Thanks &amp; see you!</Message></Response>")
    );
}

#[test]
fn raw_fragments_go_where_they_ran() {
    let out = render_ok(&[
        v("say", json!({"_arg": "a"})),
        v("gather_start", json!({})),
        v(
            "raw_response",
            json!({"_arg": "<Say voice=\"alice\">in <emphasis>gather</emphasis></Say>"}),
        ),
        v("gather_stop", json!({})),
        v("raw", json!({"_arg": "  <Pause length=\"1\"/><!-- c --> "})),
    ]);
    assert_eq!(
        out,
        format!(
            "{DECLARATION}<Response><Say>a</Say><Gather><Say voice=\"alice\">in <emphasis>gather</emphasis></Say></Gather>  <Pause length=\"1\"/><!-- c --> </Response>"
        )
    );
    parse(&out);
}

#[test]
fn a_raw_document_is_the_whole_reply() {
    let doc = r#"<?xml version="1.0" encoding="UTF-8"?><Response><Say>only me</Say></Response>"#;
    let out = render_ok(&[
        v("say", json!({"_arg": "dropped"})),
        v("raw_response", json!({"_arg": format!("  {doc}\n")})),
        v("hangup", json!({})),
    ]);
    assert_eq!(out, doc);
    // Without a declaration: one is added.
    let out = render_ok(&[v("raw", json!({"_arg": "<Response><Hangup/></Response>"}))]);
    assert_eq!(out, format!("{DECLARATION}<Response><Hangup/></Response>"));
    // Several: the last one.
    let out = render_ok(&[
        v("raw", json!({"_arg": "<Response><Say>1</Say></Response>"})),
        v("raw", json!({"_arg": "<Response><Say>2</Say></Response>"})),
    ]);
    assert_eq!(
        out,
        format!("{DECLARATION}<Response><Say>2</Say></Response>")
    );
}

#[test]
fn malformed_raw_xml_is_an_error() {
    for bad in [
        "<Say>unclosed",
        "<Say>a</Play>",
        "</Say>",
        "<Say>a & b</Say>",
        "<Say>&nbsp;</Say>",
        "<Say voice=alice>x</Say>",
        "<Say voice=\"a\" voice=\"b\">x</Say>",
        "<Say a=\"&bogus;\">x</Say>",
        "<?xml version=\"1.0\"?><Say/>",
        "<!DOCTYPE x><Say/>",
        "<Say><!-- a -- b --></Say>",
    ] {
        let err = render_ok_err(bad);
        assert_eq!(
            (err.rid.as_str(), err.rule.as_str(), err.line, err.col),
            ("io.example.t", "r", Some(7), Some(5)),
            "{bad}"
        );
    }
    for bad_doc in [
        "<Response><Say>x</Response>",
        "<Response/><Response/>",
        "<?xml version=\"1.0\"?><Answer/>",
        "<Response/> trailing text",
        "<?xml version=\"1.0\"?>",
    ] {
        render_ok_err(bad_doc);
    }
}

#[track_caller]
fn render_ok_err(raw: &str) -> TwimlError {
    match render(&[v("raw_response", json!({ "_arg": raw }))], &cx(false)) {
        Ok(out) => panic!("{raw:?} was accepted: {out}"),
        Err(e) => e,
    }
}

#[test]
fn well_formed_raw_fragments_pass() {
    for ok in [
        "",
        "text only",
        "<Say>a &amp; b &#233; &#x1F44D;</Say>",
        "<![CDATA[ <not> markup ]]>",
        "<Say/><Play>x</Play>",
        "<ns:Foo xmlns:ns=\"urn:x\"/>",
    ] {
        check_fragment(ok).unwrap_or_else(|e| panic!("{ok:?}: {e}"));
    }
}

#[test]
fn apology() {
    assert_eq!(
        super::apology("Sorry & goodbye."),
        format!("{DECLARATION}<Response><Say>Sorry &amp; goodbye.</Say></Response>")
    );
    assert_eq!(super::apology(""), EMPTY);
}

#[test]
fn verbs_keeps_only_twiml_directives() {
    use crate::runtime::Map;
    use std::sync::Arc;
    let d = |name: &str, twiml: bool| Directive {
        name: Arc::from(name),
        options: KrlValue::from(Map::default()),
        rid: Arc::from("rs"),
        rule_name: Arc::from("r1"),
        txn_id: Arc::from("t"),
        module: twiml.then_some("twilio"),
        line_col: twiml.then_some((3, 9)),
    };
    // A user's send_directive("say") is not TwiML.
    let got = verbs(&[d("say", false), d("hangup", true), d("say", true)]);
    let names: Vec<&str> = got.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["hangup", "say"]);
    assert_eq!((got[0].rid.as_str(), got[0].rule.as_str()), ("rs", "r1"));
    assert_eq!(got[0].line_col, Some((3, 9)));
}

#[test]
fn no_verbs_is_the_empty_document_the_writer_makes() {
    assert_eq!(write(&[]), EMPTY);
    assert_eq!(render(&[], &cx(true)).unwrap(), EMPTY);
    assert_eq!(render(&[], &cx(false)).unwrap(), EMPTY);
}
