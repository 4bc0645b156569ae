//! Config values the seed rulesets' install checks allow are values their
//! `twilio:` verbs take (issue 13, item 6): the IVR with `"pause": 0`
//! (no `<Pause>`: Twilio's length is 1 or more) and the smallest
//! voicemail length answers a call without the apology; values the verbs
//! would refuse (a voicemail of 1 s, an unknown voice or language) are
//! refused at install, naming the field.

use krl_tests::api::{server, Api};
use krl_tests::phone::{call, heard, line, register, serve_args, strings, try_line};
use serde_json::{json, Value};

fn ivr_config(pause: Value) -> Value {
    json!({
        "ivr": {"timezone": "Europe/London", "voice": "Polly.Amy", "language": "en-GB"},
        "ivr_welcome": {"play_sample": "Hello."},
        "ivr_menu": {"play_sample": "Press 1.", "pause": pause},
        "ivr_menu_option_1": {"action": "vm"},
        "action_vm": {"type": "voicemail", "play_sample": "Speak.", "hangup_sample": "Bye.",
                      "voicemail_alert_sms_from": "+15559990000",
                      "voicemail_alert_sms_to": "+15557770000",
                      "voicemail_timeout": 1, "voicemail_max_length": 2}
    })
}

#[test]
fn the_ivr_with_a_pause_of_0_plays_its_menu_without_a_pause() {
    let (_dir, s) = server("ivr-pause-0", &serve_args(&[]));
    let api = Api::new(&s);
    let rid = register(&api, "ivr.krl");
    let menu_then_voicemail = |pause: &[&str]| {
        let mut v = strings(&[
            "say: Hello.",
            "redirect: twilio/ivr_menu?loop=1",
            "gather",
            "say: Press 1.",
        ]);
        v.extend(strings(pause));
        v.extend(strings(&[
            "digits: 1",
            "redirect: twilio/ivr_action?action=vm",
            "say: Speak.",
            "pause: 1",
            "record",
            "say: Bye.",
            "hangup",
        ]));
        v
    };
    for (pause, heard_pause) in [
        (json!(0), vec![]),
        (json!("0"), vec![]),
        (json!(1), vec!["pause: 1"]),
        (json!("600"), vec!["pause: 600"]),
    ] {
        let eci = line(&api, &rid, ivr_config(pause.clone()));
        let got = call(&s, &eci, &["--digits", "1"]);
        assert_eq!(
            heard(&got),
            menu_then_voicemail(&heard_pause),
            "pause {pause}"
        );
        // the smallest voicemail length Twilio takes, and the voice
        let record = krl_tests::phone::attrs_of(&got, "record");
        assert_eq!(record["maxLength"], "2", "{record}");
        let say = krl_tests::phone::attrs_of(&got, "say");
        assert_eq!(
            (say["voice"].as_str(), say["language"].as_str()),
            (Some("Polly.Amy"), Some("en-GB"))
        );
    }
}

#[test]
fn values_the_verbs_refuse_are_refused_at_install() {
    let (_dir, s) = server("config-values", &serve_args(&[]));
    let api = Api::new(&s);
    let refused = |rid: &str, config: Value, message: &str| {
        let (status, body, _) = try_line(&api, rid, config.clone());
        assert_eq!(status, 400, "{config}: {body}");
        assert!(
            body["error"].as_str().unwrap_or_default().contains(message),
            "{config}: {body}"
        );
    };

    let ivr = register(&api, "ivr.krl");
    let mut c = ivr_config(json!(0));
    c["action_vm"]["voicemail_max_length"] = json!(1);
    c["ivr"]["voice"] = json!("bob");
    c["ivr"]["language"] = json!("English");
    refused(
        &ivr,
        c,
        "[ivr] voice: must be man, woman, alice, Polly.NAME or Google.LOCALE-NAME; \
         [ivr] language: must be a language tag such as en-US; \
         [action_vm] voicemail_max_length: must be a whole number from 2 to 14400",
    );

    let monkey = register(&api, "hello_monkey.krl");
    refused(
        &monkey,
        json!({"voice": "bob"}),
        "voice: must be man, woman, alice, Polly.NAME or Google.LOCALE-NAME",
    );
    let eci = line(&api, &monkey, json!({"voice": "Google.en-US-Standard-C"}));
    let got = call(&s, &eci, &["--digits", ""]);
    assert_eq!(heard(&got)[0], "say: Hello Monkey");
    let say = krl_tests::phone::attrs_of(&got, "say");
    assert_eq!(say["voice"], "Google.en-US-Standard-C");

    let tree = register(&api, "phone_tree.krl");
    refused(
        &tree,
        json!({"person": "+15551230000", "conference": "team", "voice": "robot",
               "recording": "https://audio.example.org/r.mp3"}),
        "voice: \"robot\" is not man, woman, alice, Polly.NAME or Google.LOCALE-NAME",
    );

    let flow = register(&api, "interactive_flow.krl");
    refused(
        &flow,
        json!({"voice": "Joanna"}),
        "voice: must be man, woman, alice, Polly.NAME or Google.LOCALE-NAME",
    );
    let (status, body, _) = try_line(&api, &flow, json!({"voice": "Polly.Joanna"}));
    assert_eq!(status, 200, "{body}");
}
