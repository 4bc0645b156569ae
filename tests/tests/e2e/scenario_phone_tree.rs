//! Seed 000, the phone tree (`rulesets/phone_tree.krl`,
//! docs/seeds/000-phone-tree.md), played through `krl call` against
//! `krl serve`: each option, other keys and silence repeating the prompt
//! up to its limit, and install configs refused with their reasons.

use krl_tests::api::{server, Api};
use krl_tests::phone::{
    call, calls, heard, line, register, requests, serve_args, strings, try_line,
};
use serde_json::{json, Value};

const PROMPT: &str = "say: Press 1 to talk to a person. Press 2 to join the conference line. \
                      Press 3 to hear a recording.";

fn config() -> Value {
    json!({"person": "+15551230000", "conference": "team-line",
           "recording": "https://audio.example.org/jiggy.mp3"})
}

#[test]
fn each_option_of_the_phone_tree() {
    let (_dir, s) = server("tree-options", &serve_args(&[]));
    let api = Api::new(&s);
    let rid = register(&api, "phone_tree.krl");
    let eci = line(&api, &rid, config());

    let heard_all = calls(
        &s,
        &[
            (&eci, vec!["--digits", "1"]),
            (&eci, vec!["--digits", "2"]),
            (&eci, vec!["--digits", "3"]),
        ],
    );
    let start = ["gather", PROMPT];
    let expect = [
        vec![
            "digits: 1",
            "say: Connecting you now.",
            "dial: +15551230000",
            "end",
        ],
        vec![
            "digits: 2",
            "say: Joining the conference line.",
            "dial: conference team-line",
            "end",
        ],
        vec![
            "digits: 3",
            "play: https://audio.example.org/jiggy.mp3",
            "hangup",
        ],
    ];
    for (got, want) in heard_all.iter().zip(expect) {
        let want: Vec<String> = start
            .iter()
            .chain(want.iter())
            .map(|s| s.to_string())
            .collect();
        assert_eq!(heard(got), want, "{got:?}");
        assert_eq!(
            requests(got),
            ["twilio/inbound_call", "twilio/phone_tree_choice?n=1"]
        );
    }
    // The Gather asks for one key and posts it to the choice.
    let g = krl_tests::phone::attrs_of(&heard_all[0], "gather");
    assert_eq!(g["numDigits"], "1");
    assert!(
        g["action"]
            .as_str()
            .unwrap()
            .starts_with("https://ivr.example.test/sky/event/"),
        "{g}"
    );
}

#[test]
fn other_keys_and_silence_repeat_the_prompt_up_to_the_limit() {
    let (_dir, s) = server("tree-repeat", &serve_args(&[]));
    let api = Api::new(&s);
    let rid = register(&api, "phone_tree.krl");
    let eci = line(&api, &rid, config());
    let two = line(&api, &rid, {
        let mut c = config();
        c["attempts"] = json!(2);
        c
    });

    let got = calls(
        &s,
        &[
            // a wrong key, silence, then 1
            (&eci, vec!["--digits", "9,,1"]),
            // silence three times: goodbye
            (&eci, vec!["--digits", ",,"]),
            // wrong keys count too
            (&eci, vec!["--digits", "7,*,0"]),
            // attempts 2
            (&two, vec!["--digits", "5,"]),
        ],
    );
    assert_eq!(
        heard(&got[0]),
        strings(&[
            "gather",
            PROMPT,
            "digits: 9",
            "say: Sorry, 9 is not an option.",
            "redirect: twilio/phone_tree_prompt?n=2",
            "gather",
            PROMPT,
            "no input",
            "redirect: twilio/phone_tree_prompt?n=3",
            "gather",
            PROMPT,
            "digits: 1",
            "say: Connecting you now.",
            "dial: +15551230000",
            "end",
        ]),
        "{:?}",
        got[0]
    );
    assert_eq!(
        requests(&got[0]),
        [
            "twilio/inbound_call",
            "twilio/phone_tree_choice?n=1",
            "twilio/phone_tree_prompt?n=2",
            "twilio/phone_tree_prompt?n=3",
            "twilio/phone_tree_choice?n=3",
        ]
    );
    let silent = heard(&got[1]);
    assert_eq!(
        silent.iter().filter(|l| *l == PROMPT).count(),
        3,
        "{silent:?}"
    );
    assert_eq!(silent[silent.len() - 2..], ["say: Goodbye.", "hangup"]);
    let wrong = heard(&got[2]);
    assert_eq!(
        wrong.iter().filter(|l| *l == PROMPT).count(),
        3,
        "{wrong:?}"
    );
    for k in ["7", "*", "0"] {
        assert!(
            wrong.contains(&format!("say: Sorry, {k} is not an option.")),
            "{wrong:?}"
        );
    }
    assert_eq!(wrong[wrong.len() - 2..], ["say: Goodbye.", "hangup"]);
    let short = heard(&got[3]);
    assert_eq!(
        short.iter().filter(|l| *l == PROMPT).count(),
        2,
        "{short:?}"
    );
    assert_eq!(short[short.len() - 2..], ["say: Goodbye.", "hangup"]);
}

#[test]
fn the_install_config_is_checked() {
    let (_dir, s) = server("tree-config", &serve_args(&[]));
    let api = Api::new(&s);
    let rid = register(&api, "phone_tree.krl");
    let cases = [
        (
            json!({}),
            "person: missing (the number option 1 dials); \
             conference: missing (the conference room option 2 joins); \
             recording: missing (the URL option 3 plays)",
        ),
        (
            json!({"person": "call me", "conference": "team-line",
                   "recording": "https://audio.example.org/j.mp3"}),
            "person: \"call me\" is not a phone number (+15551230000) or a sip: address",
        ),
        (
            json!({"person": "+15551230000", "conference": "",
                   "recording": "ftp://audio.example.org/j.mp3", "attempts": 0}),
            "conference: must be 1 to 128 characters; \
             recording: \"ftp://audio.example.org/j.mp3\" is not an http(s) URL; \
             attempts: must be a whole number from 1 to 99",
        ),
    ];
    for (config, message) in cases {
        let (status, body, pico) = try_line(&api, &rid, config.clone());
        assert_eq!(status, 400, "{config}: {body}");
        assert_eq!(body["error"], message, "{config}");
        let (_, info) = api.get(&format!("/api/picos/{pico}"));
        assert_eq!(
            info["rulesets"],
            json!([]),
            "nothing installed for {config}"
        );
    }
    // A SIP address is a person too.
    let mut sip = config();
    sip["person"] = json!("sip:desk@example.org");
    let eci = line(&api, &rid, sip);
    let got = call(&s, &eci, &["--digits", "1"]);
    assert!(heard(&got).contains(&"dial: sip:desk@example.org".to_string()));
}
