//! `with` modifiers of the `twilio:` verbs through `krl serve`
//! (docs/twilio.md, "Attributes"): an unknown action or attribute, or a
//! literal value the verb does not accept refuses the ruleset at registration
//! (400 with line and column); a computed value is checked when the
//! action runs: the caller hears the apology and the log names the
//! ruleset, rule, line and column.

use krl_tests::api::{server, str_of, Api};
use serde_json::json;

const GREETER: &str = r#"ruleset io.example.greeter {
  rule answer {
    select when twilio inbound_call
    pre { voice = event:attrs{"Voice"} }
    twilio:say("Hello") with voice = voice and loop = 2
  }
}
"#;

#[test]
fn static_values_are_refused_at_registration_and_computed_ones_when_they_run() {
    let (_dir, s) = server("twilio_attributes", &[]);
    let api = Api::new(&s);

    // registration: each mistake with where it is
    for (src, line, col, message) in [
        (
            GREETER.replace("loop = 2", "loop = \"x\""),
            5,
            55,
            "`twilio:say` attribute `loop` must be a whole number ≥ 0, not \"x\"",
        ),
        (
            GREETER.replace("loop = 2", "lop = 2"),
            5,
            48,
            "`twilio:say` has no attribute `lop` (it takes voice, language, loop)",
        ),
        (
            GREETER.replace("voice = voice", "voice = 3"),
            5,
            38,
            "`twilio:say` attribute `voice` must be man, woman, alice, Polly.<Name> or Google.<locale>-<Name>, not 3",
        ),
        (
            GREETER.replace("twilio:say(", "twilio:sya("),
            5,
            12,
            "unknown action `twilio:sya` (did you mean `twilio:say`?): the twilio actions are say, play,",
        ),
    ] {
        let (status, body) = api.register(&src);
        assert_eq!(status, 400, "{body}");
        assert_eq!((&body["line"], &body["col"]), (&json!(line), &json!(col)), "{body}");
        assert!(str_of(&body["error"]).contains(message), "{body}");
    }
    let (status, body) = api.get("/api/rulesets");
    assert_eq!((status, body), (200, json!([])));

    // run time: the value comes from the call
    let (_, eci) = api.pico_with(GREETER);
    let call = |voice: &str| {
        let params = [("CallSid", "CA1"), ("From", "+15550001"), ("Voice", voice)];
        let (status, twiml) = api.twilio(&eci, "inbound_call", &params);
        assert_eq!(status, 200, "{twiml}");
        twiml
    };
    let twiml = call("Polly.Joanna");
    assert!(
        twiml.contains(r#"<Say loop="2" voice="Polly.Joanna">Hello</Say>"#),
        "{twiml}"
    );
    let twiml = call("robot");
    assert!(
        twiml.contains("<Say>Sorry, something went wrong.</Say>"),
        "{twiml}"
    );
    let logged = s.log_line("the error in the log", |l| {
        l.contains("`twilio:say` attribute `voice` must be")
    });
    for part in [
        "rid=io.example.greeter",
        "rule=\"answer\"",
        "line=5",
        "col=5",
        "not \"robot\"",
    ] {
        assert!(logged.contains(part), "{part} in {logged}");
    }
}

const RAW: &str = r#"ruleset io.example.raw {
  rule answer {
    select when twilio inbound_call
    pre { extra = event:attrs{"Extra"} }
    every {
      twilio:say("Hello")
      twilio:raw_response("<Play>https://x.example/a.mp3</Play>" + extra)
    }
  }
}
"#;

/// `twilio:raw_response`: literal XML is checked at registration (400
/// with line and column); computed XML when the reply is written: the
/// caller hears the apology and the log names the rule and the action's
/// position.
#[test]
fn raw_response_xml_is_checked_at_registration_and_when_the_reply_is_written() {
    let (_dir, s) = server("twilio_raw_xml", &[]);
    let api = Api::new(&s);

    let bad = RAW.replace(
        r#""<Play>https://x.example/a.mp3</Play>" + extra"#,
        r#""<Play>https://x.example/a.mp3""#,
    );
    let (status, body) = api.register(&bad);
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        (&body["line"], &body["col"]),
        (&json!(7), &json!(27)),
        "{body}"
    );
    assert!(
        str_of(&body["error"])
            .contains("`twilio:raw_response` needs well-formed XML: 1 element(s) not closed"),
        "{body}"
    );

    let (_, eci) = api.pico_with(RAW);
    let call = |extra: &str| {
        let (status, twiml) = api.twilio(
            &eci,
            "inbound_call",
            &[("CallSid", "CA1"), ("Extra", extra)],
        );
        assert_eq!(status, 200, "{twiml}");
        twiml
    };
    let twiml = call("<Pause length=\"1\"/>");
    assert!(
        twiml.ends_with(
            "<Response><Say>Hello</Say><Play>https://x.example/a.mp3</Play><Pause length=\"1\"/></Response>"
        ),
        "{twiml}"
    );
    let twiml = call("<Say>unclosed");
    assert!(
        twiml.contains("<Say>Sorry, something went wrong.</Say>") && !twiml.contains("Hello"),
        "{twiml}"
    );
    let logged = s.log_line("the error in the log", |l| l.contains("TwiML reply failed"));
    for part in [
        "rid=io.example.raw",
        "rule=answer",
        "line=7",
        "col=7",
        "1 element(s) not closed",
    ] {
        assert!(logged.contains(part), "{part} in {logged}");
    }
}
