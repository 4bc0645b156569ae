//! Issue 4's `krl call` acceptance: a three-level menu (top → support →
//! technical help → a desk) played through the `krl call` binary against
//! `krl serve`, with every Dial outcome posted to the Dial's action and a
//! no-input loop that gives up after its maximum.

use krl_tests::api::{server, Api};
use krl_tests::phone::{call, calls, heard, line_and_pico, requests, serve_args, strings};
use serde_json::json;

const MENUS: &str = r#"ruleset io.example.three_levels {
  meta {
    shares kept
  }
  global {
    kept = function() { ent:outcomes.defaultsTo([]) }
    menus = {
      "top": {"prompt": "Press 1 for sales. Press 2 for support.",
              "keys": {"1": "sales", "2": "support"}},
      "support": {"prompt": "Press 1 for billing. Press 2 for technical help.",
                  "keys": {"1": "billing", "2": "technical"}},
      "technical": {"prompt": "Press 1 for hardware. Press 2 for software.",
                    "keys": {"1": "hardware", "2": "software"}}
    }
    desks = {"sales": "+15550100", "billing": "+15550101",
             "hardware": "+15550102", "software": "+15550103"}
    max_silences = 2
    outcomes = {
      "completed": "Thank you for calling. Goodbye.",
      "answered": "Thank you for calling. Goodbye.",
      "busy": "The line is busy. Please call again later.",
      "no-answer": "Nobody answered. Please call again later.",
      "failed": "We could not connect your call.",
      "canceled": "Your call was canceled."
    }
  }
  rule menu {
    select when twilio inbound_call or twilio menu
    pre {
      name = event:attrs{"menu"}.defaultsTo("top")
    }
    every {
      twilio:gather_start("choice?menu=" + name, numDigits = 1);
      twilio:say(menus{[name, "prompt"]});
      twilio:gather_stop();
      twilio:redirect("silence?menu=" + name);
    }
  }
  rule silence {
    select when twilio silence
    pre {
      silences = session:silences.defaultsTo(0) + 1
    }
    if silences > max_silences then every {
      twilio:say("We did not hear from you. Goodbye.");
      twilio:hangup();
    }
    notfired {
      session:silences := silences;
      raise twilio event "menu" attributes event:attrs
    }
  }
  rule choice {
    select when twilio choice
    pre {
      name = event:attrs{"menu"}
      target = menus{[name, "keys", event:attrs{"Digits"}]}.defaultsTo("")
      next = target == "" => name | (menus >< target => target | "")
    }
    if target == "" then twilio:say("Sorry, that is not an option.")
    always {
      raise twilio event "menu" attributes event:attrs.put("menu", next) if next != "";
      raise twilio event "desk" attributes event:attrs.put("desk", target) if next == ""
    }
  }
  rule desk {
    select when twilio desk
    pre {
      desk = event:attrs{"desk"}
    }
    every {
      twilio:say("Connecting you to " + desk + ".");
      twilio:dial(desks{desk}, action = "dial_done?desk=" + desk, timeout = 20);
    }
  }
  rule dial_done {
    select when twilio dial_done
    pre {
      said = outcomes{event:attrs{"DialCallStatus"}}.defaultsTo("Goodbye.")
    }
    every {
      twilio:say(said);
      twilio:hangup();
    }
    always {
      ent:outcomes := ent:outcomes.defaultsTo([]).append(event:attrs{"desk"} + " " + event:attrs{"DialCallStatus"})
    }
  }
}
"#;

const TOP: &str = "say: Press 1 for sales. Press 2 for support.";
const SUPPORT: &str = "say: Press 1 for billing. Press 2 for technical help.";
const TECHNICAL: &str = "say: Press 1 for hardware. Press 2 for software.";

#[test]
fn three_levels_every_dial_outcome_and_a_no_input_loop() {
    let (_dir, srv) = server("phone-menu", &serve_args(&[]));
    let api = Api::new(&srv);
    let rid = api.register_ok(MENUS);
    let (eci, pico) = line_and_pico(&api, &rid, json!({}));

    // Down all three levels to the hardware desk, once per Dial outcome.
    let outcomes = [
        ("completed", "Thank you for calling. Goodbye."),
        ("answered", "Thank you for calling. Goodbye."),
        ("busy", "The line is busy. Please call again later."),
        ("no-answer", "Nobody answered. Please call again later."),
        ("failed", "We could not connect your call."),
        ("canceled", "Your call was canceled."),
    ];
    let runs: Vec<_> = outcomes
        .iter()
        .map(|(status, _)| {
            (
                eci.as_str(),
                vec!["--digits", "2,2,1", "--dial-status", status],
            )
        })
        .collect();
    for (got, (status, said)) in calls(&srv, &runs).iter().zip(outcomes) {
        let want = strings(&[
            "gather",
            TOP,
            "digits: 2",
            "gather",
            SUPPORT,
            "digits: 2",
            "gather",
            TECHNICAL,
            "digits: 1",
            "say: Connecting you to hardware.",
            "dial: +15550102",
            &format!("say: {said}"),
            "hangup",
        ]);
        assert_eq!(heard(got), want, "--dial-status {status}");
        assert_eq!(
            requests(got),
            [
                "twilio/inbound_call",
                "twilio/choice?menu=top",
                "twilio/choice?menu=support",
                "twilio/choice?menu=technical",
                "twilio/dial_done?desk=hardware",
            ],
            "--dial-status {status}"
        );
    }
    // The Dial's action got each DialCallStatus (the rule kept them).
    let own = krl_tests::phone::system_eci(&api, &pico);
    let (status, kept) = api.query(&own, &rid, "kept", json!({}));
    assert_eq!(status, 200, "{kept}");
    let mut kept: Vec<String> = serde_json::from_value(kept).unwrap();
    kept.sort();
    let mut want: Vec<String> = outcomes
        .iter()
        .map(|(o, _)| format!("hardware {o}"))
        .collect();
    want.sort();
    assert_eq!(kept, want);

    // A wrong key repeats the level; a shorter path reaches another desk.
    let got = heard(&call(
        &srv,
        &eci,
        &["--digits", "9,1", "--dial-status", "busy"],
    ));
    assert_eq!(
        got,
        strings(&[
            "gather",
            TOP,
            "digits: 9",
            "say: Sorry, that is not an option.",
            "gather",
            TOP,
            "digits: 1",
            "say: Connecting you to sales.",
            "dial: +15550100",
            "say: The line is busy. Please call again later.",
            "hangup",
        ])
    );

    // Silence at the second level: asked again up to the maximum (two
    // silences), then goodbye on the third.
    let got = call(&srv, &eci, &["--digits", "2,,,"]);
    let mut want = strings(&["gather", TOP, "digits: 2"]);
    for _ in 0..3 {
        want.extend(strings(&["gather", SUPPORT, "no input"]));
        want.push("redirect: twilio/silence?menu=support".to_string());
    }
    want.extend(strings(&[
        "say: We did not hear from you. Goodbye.",
        "hangup",
    ]));
    assert_eq!(heard(&got), want);
}
