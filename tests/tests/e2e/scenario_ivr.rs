//! Seed 001, the configurable IVR (`rulesets/ivr.krl`,
//! docs/seeds/001-ivr.md), played through `krl call` against `krl serve`
//! with `--public-url` and signed webhooks: every menu option and action
//! type, every redirect path, each DialCallStatus fallback, no-input
//! loops to the maximum, the voicemail SMS alert reaching a fake Twilio
//! API with its exact text, opening hours at fixed instants (`--clock`) in
//! two time zones across their daylight-saving changes, several ranges a
//! day and the all-day shorthand, hours on every kind of section, and
//! invalid configurations refused naming the section and field.

use krl_tests::api::{server, wait_for, Api};
use krl_tests::phone::{
    attrs_of, call, calls, heard, line, register, requests, serve_args, strings, try_line,
};
use krl_tests::twilio::{basic_auth, FakeApi};
use krl_tests::{ScratchDir, Server};
use serde_json::{json, Value};
use std::time::Duration;

/// Monday 2026-03-09, 11:00 in Denver (MDT), 17:00 in London (GMT).
const MONDAY_11_DENVER: &str = "2026-03-09T17:00:00Z";

/// A server whose clock starts at `clock`, with the IVR registered.
fn ivr_server(name: &str, clock: &str, more: &[&str]) -> (ScratchDir, Server, String) {
    let mut args = vec!["--clock", clock];
    args.extend_from_slice(more);
    let (dir, s) = server(name, &serve_args(&args));
    let rid = register(&Api::new(&s), "ivr.krl");
    (dir, s, rid)
}

/// The configuration of most tests: an office open on weekdays with a
/// lunch break on Mondays, closed on Saturdays, open on Sunday mornings.
fn config(tz: &str) -> Value {
    json!({
        "ivr": {"timezone": tz},
        "ivr_welcome": {"play_sample": "Thanks for calling Acme.", "hours": "office",
                        "hours_action_on_closed": "closed"},
        "ivr_menu": {"play_sample": "Main menu.", "pause": 3,
                     "no_input_sample": "I did not hear anything.",
                     "no_input_max_loops": 3, "no_input_action_on_max_loops": "goodbye"},
        "ivr_menu_option_1": {"action": "sales"},
        "ivr_menu_option_2": {"play_sample": "One moment.", "action": "voicemail"},
        "ivr_menu_option_3": {"action": "news"},
        "ivr_menu_option_4": {"action": "to_news"},
        "ivr_menu_option_5": {"action": "start_over"},
        "ivr_menu_option_6": {"action": "elsewhere"},
        "ivr_menu_option_7": {"action": "hang_up_path"},
        "ivr_menu_option_8": {"action": "goodbye_path"},
        "ivr_menu_option_9": {"action": "back_to_menu"},
        "action_sales": {"type": "forward", "play_sample": "Connecting you to sales.",
                         "phone_number": "+15551230000",
                         "action_on_busy": "voicemail", "action_on_no_answer": "no_answer",
                         "action_on_failed": "sorry", "action_on_canceled": "goodbye"},
        "action_voicemail": {"type": "voicemail",
                             "play_sample": "Please leave a message after the tone.",
                             "hangup_sample": "Thank you, goodbye.",
                             "voicemail_alert_sms_from": "+15559990000",
                             "voicemail_alert_sms_to": "+15557770000",
                             "voicemail_timeout": 5, "voicemail_max_length": "300"},
        "action_news": {"type": "hangup", "play_sample": "https://audio.example.org/news.mp3"},
        "action_to_news": {"type": "redirect", "play_sample": "Here is the news.",
                           "path": "/ivr/menu/3"},
        "action_start_over": {"type": "redirect", "path": "/ivr"},
        "action_elsewhere": {"type": "redirect", "path": "https://elsewhere.example.org/twiml"},
        "action_hang_up_path": {"type": "redirect", "path": "/ivr/hangup"},
        "action_goodbye_path": {"type": "redirect", "path": "/ivr/action/goodbye"},
        "action_back_to_menu": {"type": "redirect", "path": "/ivr/menu"},
        "action_no_answer": {"type": "hangup", "play_sample": "Nobody answered."},
        "action_sorry": {"type": "hangup", "play_sample": "Sorry, we cannot connect you."},
        "action_goodbye": {"type": "hangup", "play_sample": "Goodbye."},
        "action_closed": {"type": "hangup", "play_sample": "We are closed."},
        "hours_office": {"mon": "0900-1200,1300-1730", "tue": "0900-1730", "wed": "09:00-17:30",
                         "thu": "0900-1730", "fri": "0900-1700", "sat": "", "sun": "0900-1200"}
    })
}

/// What the caller hears from the welcome to the menu's prompt, the first time.
const MENU: [&str; 6] = [
    "say: Thanks for calling Acme.",
    "redirect: twilio/ivr_menu?loop=1",
    "gather",
    "say: Main menu.",
    "pause: 3",
    "",
];

/// The welcome and the first menu, then `rest`.
fn after_menu(rest: &[&str]) -> Vec<String> {
    MENU[..5]
        .iter()
        .chain(rest)
        .map(|s| s.to_string())
        .collect()
}

#[test]
fn every_menu_option_and_redirect_path() {
    let (_dir, s, rid) = ivr_server("ivr-options", MONDAY_11_DENVER, &[]);
    let api = Api::new(&s);
    // "elsewhere" is another TwiML application: here a local fake.
    let other = FakeApi::start();
    let mut c = config("America/Denver");
    c["action_elsewhere"]["path"] = json!(format!("{}/twiml/other", other.url()));
    let eci = line(&api, &rid, c);

    let keys = [
        "1", "2", "3", "4", "5,3", "6", "7", "8", "9,3", "0,3", "#,3",
    ];
    let got = calls(
        &s,
        &keys
            .iter()
            .map(|k| (eci.as_str(), vec!["--digits", k]))
            .collect::<Vec<_>>(),
    );
    let news = ["play: https://audio.example.org/news.mp3", "hangup"];
    let menu_again = |key: &str, via: &[&str], again: &[&str]| -> Vec<String> {
        let mut v = after_menu(&[&format!("digits: {key}")]);
        v.extend(strings(via));
        v.extend(strings(again));
        v.extend(strings(&[
            "digits: 3",
            "redirect: twilio/ivr_action?action=news",
        ]));
        v.extend(strings(&news));
        v
    };
    let expect: Vec<Vec<String>> = vec![
        // 1: forward; completed (krl call's default) ends the call
        after_menu(&[
            "digits: 1",
            "redirect: twilio/ivr_action?action=sales",
            "say: Connecting you to sales.",
            "dial: +15551230000",
            "hangup",
        ]),
        // 2: the option's sample, then voicemail
        after_menu(&[
            "digits: 2",
            "say: One moment.",
            "redirect: twilio/ivr_action?action=voicemail",
            "say: Please leave a message after the tone.",
            "pause: 1",
            "record",
            "say: Thank you, goodbye.",
            "hangup",
        ]),
        // 3: hangup action with a recording
        after_menu(&["digits: 3", "redirect: twilio/ivr_action?action=news"])
            .into_iter()
            .chain(strings(&news))
            .collect(),
        // 4: redirect to option 3's path
        after_menu(&[
            "digits: 4",
            "redirect: twilio/ivr_action?action=to_news",
            "say: Here is the news.",
            "redirect: twilio/ivr_option?Digits=3",
            "redirect: twilio/ivr_action?action=news",
        ])
        .into_iter()
        .chain(strings(&news))
        .collect(),
        // 5: /ivr starts over: the welcome again
        menu_again(
            "5",
            &[
                "redirect: twilio/ivr_action?action=start_over",
                "redirect: twilio/inbound_call",
            ],
            &MENU[..5],
        ),
        // 6: another application's URL
        after_menu(&[
            "digits: 6",
            "redirect: twilio/ivr_action?action=elsewhere",
            &format!("redirect: {}/twiml/other", other.url()),
            "say: Another system answers.",
            "hangup",
        ]),
        // 7: /ivr/hangup
        after_menu(&[
            "digits: 7",
            "redirect: twilio/ivr_action?action=hang_up_path",
            "redirect: twilio/ivr_hangup",
            "hangup",
        ]),
        // 8: /ivr/action/goodbye
        after_menu(&[
            "digits: 8",
            "redirect: twilio/ivr_action?action=goodbye_path",
            "redirect: twilio/ivr_action?action=goodbye",
            "say: Goodbye.",
            "hangup",
        ]),
        // 9: /ivr/menu: the menu again, then 3
        menu_again(
            "9",
            &[
                "redirect: twilio/ivr_action?action=back_to_menu",
                "redirect: twilio/ivr_menu?loop=1",
            ],
            &MENU[2..5],
        ),
        // 0 and #: not options
        menu_again(
            "0",
            &[
                "say: Invalid menu option selected.",
                "redirect: twilio/ivr_menu?loop=1",
            ],
            &MENU[2..5],
        ),
        menu_again(
            "#",
            &[
                "say: Invalid menu option selected.",
                "redirect: twilio/ivr_menu?loop=1",
            ],
            &MENU[2..5],
        ),
    ];
    for ((key, got), want) in keys.iter().zip(&got).zip(expect) {
        assert_eq!(heard(got), want, "key {key}: {got:?}");
    }
    // The Gather: one key, posted with the loop count.
    let g = attrs_of(&got[0], "gather");
    assert_eq!(g["numDigits"], "1");
    assert_eq!(
        krl_tests::phone::short(g["action"].as_str().unwrap()),
        "twilio/ivr_option?loop=1"
    );
    // krl call's summary: round trips in ms and µs.
    let summary = &got[0].last().unwrap()["summary"];
    assert_eq!(summary["turns"], 5, "{summary}");
    let us = |k: &str| {
        summary[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k}: {summary}"))
    };
    assert!(
        us("p50_us") <= us("p99_us") && us("p99_us") > 0,
        "{summary}"
    );
    // Dial and Record post back to the IVR; Record has the configured limits.
    assert!(requests(&got[0]).contains(&"twilio/ivr_dialed?action=sales".to_string()));
    let r = attrs_of(&got[1], "record");
    assert_eq!(
        (
            krl_tests::phone::short(r["action"].as_str().unwrap()),
            &r["timeout"],
            &r["maxLength"]
        ),
        (
            "twilio/ivr_recorded?action=voicemail".to_string(),
            &json!("5"),
            &json!("300")
        )
    );
}

#[test]
fn each_dial_call_status_takes_its_fallback() {
    let (_dir, s, rid) = ivr_server("ivr-dial", MONDAY_11_DENVER, &[]);
    let api = Api::new(&s);
    let eci = line(&api, &rid, config("America/Denver"));
    let statuses = [
        "busy",
        "no-answer",
        "failed",
        "canceled",
        "completed",
        "answered",
    ];
    let got = calls(
        &s,
        &statuses
            .iter()
            .map(|st| (eci.as_str(), vec!["--digits", "1", "--dial-status", st]))
            .collect::<Vec<_>>(),
    );
    let dialed = [
        "digits: 1",
        "redirect: twilio/ivr_action?action=sales",
        "say: Connecting you to sales.",
        "dial: +15551230000",
    ];
    let then: [&[&str]; 6] = [
        &[
            "redirect: twilio/ivr_action?action=voicemail",
            "say: Please leave a message after the tone.",
            "pause: 1",
            "record",
            "say: Thank you, goodbye.",
            "hangup",
        ],
        &[
            "redirect: twilio/ivr_action?action=no_answer",
            "say: Nobody answered.",
            "hangup",
        ],
        &[
            "redirect: twilio/ivr_action?action=sorry",
            "say: Sorry, we cannot connect you.",
            "hangup",
        ],
        &[
            "redirect: twilio/ivr_action?action=goodbye",
            "say: Goodbye.",
            "hangup",
        ],
        &["hangup"],
        &["hangup"],
    ];
    for ((status, got), then) in statuses.iter().zip(&got).zip(then) {
        let want: Vec<String> = after_menu(&dialed)
            .into_iter()
            .chain(strings(then))
            .collect();
        assert_eq!(heard(got), want, "{status}: {got:?}");
        let req = requests(got);
        assert_eq!(
            req[4], "twilio/ivr_dialed?action=sales",
            "{status}: {req:?}"
        );
    }
}

#[test]
fn no_input_loops_the_menu_to_the_maximum_then_its_action() {
    let (_dir, s, rid) = ivr_server("ivr-loops", MONDAY_11_DENVER, &[]);
    let api = Api::new(&s);
    let three = line(&api, &rid, config("America/Denver"));
    // At most one loop, no action: hang up. Default pause: 2 seconds.
    let mut c = config("America/Denver");
    c["ivr_menu"] = json!({"play_sample": "https://audio.example.org/menu.mp3",
                           "no_input_max_loops": "1"});
    let one = line(&api, &rid, c);
    // No maximum: the menu loops until the caller does something.
    let mut c = config("America/Denver");
    c["ivr_menu"] = json!({"play_sample": "Main menu."});
    let endless = line(&api, &rid, c);

    let got = calls(
        &s,
        &[
            (&three, vec!["--digits", ",,"]),
            (&three, vec!["--digits", ",,3"]),
            (&one, vec!["--digits", ""]),
            (&endless, vec!["--digits", ",,,,,,3"]),
        ],
    );
    let menu = ["gather", "say: Main menu.", "pause: 3", "no input"];
    let mut want = strings(&MENU[..2]);
    for n in 1..=3 {
        want.extend(strings(&menu));
        if n < 3 {
            want.push("say: I did not hear anything.".into());
            want.push(format!("redirect: twilio/ivr_menu?loop={}", n + 1));
        }
    }
    want.extend(strings(&[
        "redirect: twilio/ivr_action?action=goodbye",
        "say: Goodbye.",
        "hangup",
    ]));
    assert_eq!(heard(&got[0]), want, "{:?}", got[0]);
    assert_eq!(
        requests(&got[0]),
        [
            "twilio/inbound_call",
            "twilio/ivr_menu?loop=1",
            "twilio/ivr_menu?loop=2",
            "twilio/ivr_menu?loop=3",
            "twilio/ivr_action?action=goodbye",
        ]
    );
    // A key on the last loop still counts.
    let last = heard(&got[1]);
    assert_eq!(
        last[last.len() - 4..],
        [
            "digits: 3",
            "redirect: twilio/ivr_action?action=news",
            "play: https://audio.example.org/news.mp3",
            "hangup"
        ],
        "{last:?}"
    );
    assert_eq!(
        requests(&got[1]).last().unwrap(),
        "twilio/ivr_action?action=news"
    );
    assert!(requests(&got[1]).contains(&"twilio/ivr_option?loop=3".to_string()));
    assert_eq!(
        heard(&got[2]),
        strings(&[
            "say: Thanks for calling Acme.",
            "redirect: twilio/ivr_menu?loop=1",
            "gather",
            "play: https://audio.example.org/menu.mp3",
            "pause: 2",
            "no input",
            "hangup",
        ])
    );
    let endless = requests(&got[3]);
    assert_eq!(endless[7], "twilio/ivr_menu?loop=7", "{endless:?}");
    assert_eq!(endless[8], "twilio/ivr_option?loop=7", "{endless:?}");

    // A forged loop counter (not a number, or below 1) counts as the first
    // pass.
    for forged in ["abc", "-4"] {
        let kind = format!("ivr_menu?loop={forged}");
        let got = call(&s, &three, &["--type", &kind, "--digits", ""]);
        assert_eq!(
            requests(&got)[..2],
            [
                format!("twilio/{kind}"),
                "twilio/ivr_menu?loop=2".to_string()
            ],
            "{got:?}"
        );
    }
}

#[test]
fn the_voicemail_alert_reaches_twilio_with_its_exact_text() {
    let twilio = FakeApi::start();
    let api_url = twilio.url();
    let (_dir, s, rid) = ivr_server(
        "ivr-voicemail",
        MONDAY_11_DENVER,
        &[
            "--twilio-api-url",
            &api_url,
            "--twilio-account-sid",
            "ACengine000",
            "--twilio-auth-token",
            "engine-token",
        ],
    );
    let api = Api::new(&s);
    // Credentials in the config's [twilio] section...
    let mut c = config("America/Denver");
    c["twilio"] = json!({"account_sid": "ACivr0001", "auth_token": "ivr-token"});
    let own = line(&api, &rid, c);
    // ...or the engine's.
    let engine = line(&api, &rid, config("Europe/London"));

    let got = calls(
        &s,
        &[
            (&own, vec!["--digits", "2", "--from", "+15550001"]),
            (
                &engine,
                vec![
                    "--digits",
                    "1",
                    "--dial-status",
                    "busy",
                    "--from",
                    "+447700900123",
                ],
            ),
        ],
    );
    for g in &got {
        assert_eq!(
            heard(g)[heard(g).len() - 2..],
            ["say: Thank you, goodbye.", "hangup"]
        );
    }
    let sent = wait_for("two SMS alerts", Duration::from_secs(20), || {
        let sent = twilio.seen();
        (sent.len() == 2).then_some(sent)
    });
    let by_account = |sid: &str| {
        sent.iter()
            .find(|m| m.target == format!("/2010-04-01/Accounts/{sid}/Messages.json"))
            .unwrap_or_else(|| panic!("no message for {sid}: {sent:?}"))
            .clone()
    };
    for (sid, token, from) in [
        ("ACivr0001", "ivr-token", "+15550001"),
        ("ACengine000", "engine-token", "+447700900123"),
    ] {
        let m = by_account(sid);
        assert_eq!(m.auth(), basic_auth(sid, token));
        assert_eq!(m.field("To").as_deref(), Some("+15557770000"));
        assert_eq!(m.field("From").as_deref(), Some("+15559990000"));
        let body = m.field("Body").unwrap_or_default();
        let prefix = format!("New voicemail from {from}: ");
        let link = body
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{body:?} does not start with {prefix:?}"));
        let sid = link
            .strip_prefix("https://api.twilio.com/2010-04-01/Recordings/RE")
            .unwrap_or_else(|| panic!("not a recording link: {link}"));
        assert!(
            sid.len() == 32 && sid.chars().all(|c| c.is_ascii_hexdigit()),
            "{link}"
        );
    }
    // The outbox saw them through: it records "sent" after Twilio's answer
    // reached it, so the fake may have seen both before the second is
    // recorded; wait for the state asserted.
    let out = wait_for(
        "both alerts recorded as sent",
        Duration::from_secs(20),
        || {
            let (_, out) = api.get("/api/outbox?state=sent");
            (out.as_array().map(Vec::len) == Some(2)).then_some(out)
        },
    );
    assert_eq!(out.as_array().map(Vec::len), Some(2), "{out}");
}

/// Whether a call to `eci` now finds the office open (the welcome) or
/// closed (the closed action).
fn open_now(s: &Server, eci: &str) -> bool {
    let h = heard(&call(s, eci, &["--digits", "3"]));
    match h[0].as_str() {
        "say: Thanks for calling Acme." => true,
        "redirect: twilio/ivr_action?action=closed" => {
            assert_eq!(h[1..], ["say: We are closed.", "hangup"]);
            false
        }
        _ => panic!("{h:?}"),
    }
}

/// For each instant: a server whose clock starts then, a line per zone
/// with `hours`, and whether each is open.
///
/// The servers run side by side; in the suite's cluster mode (three nodes
/// each) one after the other, so that no clock runs past its instant's
/// margin while dozens of nodes start on the same cores.
fn check_instants(name: &str, hours: Value, cases: &[(&str, &[(&str, bool)])]) {
    let check = |i: usize, instant: &str, zones: &[(&str, bool)]| {
        let (_dir, s, rid) = ivr_server(&format!("{name}-{i}"), instant, &[]);
        let api = Api::new(&s);
        for (tz, open) in zones.iter() {
            let mut c = config(tz);
            c["hours_office"] = hours.clone();
            let eci = line(&api, &rid, c);
            assert_eq!(open_now(&s, &eci), *open, "{tz} at {instant}");
        }
    };
    if krl_tests::cluster_url().is_some() {
        for (i, (instant, zones)) in cases.iter().enumerate() {
            check(i, instant, zones);
        }
        return;
    }
    std::thread::scope(|scope| {
        for (i, (instant, zones)) in cases.iter().enumerate() {
            let check = &check;
            scope.spawn(move || check(i, instant, zones));
        }
    });
}

#[test]
fn opening_hours_in_two_zones_across_daylight_saving() {
    // Open 09:00 to 17:00 (its last minute included) every day. Denver
    // moves from MST (UTC-7) to MDT (UTC-6) on Sunday 2026-03-08 at 02:00;
    // London from GMT to BST (UTC+1) on Sunday 2026-03-29 at 01:00.
    let every_day = "0900-1659";
    let hours = json!({"mon": every_day, "tue": every_day, "wed": every_day,
                       "thu": every_day, "fri": every_day, "sat": every_day, "sun": every_day});
    const D: &str = "America/Denver";
    const L: &str = "Europe/London";
    check_instants(
        "ivr-dst",
        hours,
        &[
            // Saturday before Denver's change: 09:00 and 08:59 MST
            ("2026-03-07T16:00:00Z", &[(D, true), (L, true)]),
            ("2026-03-07T15:59:00Z", &[(D, false), (L, true)]),
            // Sunday after it: 09:00 and 08:59 MDT (MST would say 08:00, 07:59)
            ("2026-03-08T15:00:00Z", &[(D, true), (L, true)]),
            ("2026-03-08T14:59:00Z", &[(D, false), (L, true)]),
            // 17:30 MDT is closed (MST would say 16:30); London at 23:30
            ("2026-03-08T23:30:00Z", &[(D, false), (L, false)]),
            // Saturday before London's change: 09:00 and 08:59 GMT
            ("2026-03-28T09:00:00Z", &[(L, true), (D, false)]),
            ("2026-03-28T08:59:00Z", &[(L, false), (D, false)]),
            // Sunday after it: 09:00 and 08:59 BST (GMT would say 08:00, 07:59)
            ("2026-03-29T08:00:00Z", &[(L, true), (D, false)]),
            ("2026-03-29T07:59:00Z", &[(L, false), (D, false)]),
            // 16:59 BST open, 17:00 BST closed (GMT would say 15:59, 16:00)
            ("2026-03-29T15:59:30Z", &[(L, true), (D, true)]),
            ("2026-03-29T16:00:00Z", &[(L, false), (D, true)]),
        ],
    );
}

#[test]
fn several_ranges_in_a_day_and_the_all_day_shorthand() {
    let hours = json!({"mon": "0900-1200, 1300-1730", "tue": "all", "wed": "",
                       "thu": "closed", "fri": "0000-2359", "sat": "ALL", "sun": "07:00-08:00,20:00-21:00"});
    const D: &str = "America/Denver"; // MDT, UTC-6, in all of these
    check_instants(
        "ivr-ranges",
        hours,
        &[
            // Monday 2026-03-09 in Denver
            ("2026-03-09T14:59:00Z", &[(D, false)]), // 08:59
            ("2026-03-09T15:00:00Z", &[(D, true)]),  // 09:00
            ("2026-03-09T18:00:30Z", &[(D, true)]),  // 12:00, the last minute of the morning
            ("2026-03-09T18:01:00Z", &[(D, false)]), // 12:01, lunch
            ("2026-03-09T19:00:00Z", &[(D, true)]),  // 13:00
            ("2026-03-09T23:30:00Z", &[(D, true)]),  // 17:30
            ("2026-03-09T23:31:00Z", &[(D, false)]), // 17:31
            // Tuesday "all": from midnight to 23:59
            ("2026-03-10T06:00:00Z", &[(D, true)]),
            ("2026-03-11T05:59:30Z", &[(D, true)]),
            // Wednesday "" and Thursday "closed": all day
            ("2026-03-11T18:00:00Z", &[(D, false)]),
            ("2026-03-12T18:00:00Z", &[(D, false)]),
            // Friday 0000-2359, Saturday "ALL", Sunday evening
            ("2026-03-14T05:30:00Z", &[(D, true)]),
            ("2026-03-14T18:00:00Z", &[(D, true)]),
            ("2026-03-16T02:30:00Z", &[(D, true)]), // Sunday 20:30
            ("2026-03-15T20:30:00Z", &[(D, false)]), // Sunday 14:30
        ],
    );
}

#[test]
fn hours_guard_the_menu_its_options_and_actions() {
    // Monday 14:00 in Denver: the office is open, mornings are over.
    let (_dir, s, rid) = ivr_server("ivr-guards", "2026-03-09T20:00:00Z", &[]);
    let api = Api::new(&s);
    let mut c = config("America/Denver");
    let mornings = "0000-1159";
    c["hours_mornings"] = json!({"mon": mornings, "tue": mornings, "wed": mornings,
        "thu": mornings, "fri": mornings, "sat": mornings, "sun": mornings});
    c["action_afternoon"] = json!({"type": "hangup", "play_sample": "Good afternoon."});
    c["action_morning_news"] = json!({"type": "redirect", "hours": "mornings",
        "hours_action_on_closed": "afternoon", "play_sample": "Good morning.",
        "path": "/ivr/menu/3"});
    c["ivr_menu_option_4"] = json!({"action": "morning_news"});
    c["ivr_menu_option_5"] = json!({"action": "news", "play_sample": "Not heard.",
        "hours": "mornings", "hours_action_on_closed": "afternoon"});
    let guarded = line(&api, &rid, c.clone());
    // The menu itself closed in the afternoon.
    c["ivr_menu"]["hours"] = json!("mornings");
    c["ivr_menu"]["hours_action_on_closed"] = json!("afternoon");
    let menu_closed = line(&api, &rid, c);

    let got = calls(
        &s,
        &[
            (&guarded, vec!["--digits", "4"]),
            (&guarded, vec!["--digits", "5"]),
            (&guarded, vec!["--digits", "3"]),
            (&menu_closed, vec!["--digits", "3"]),
        ],
    );
    let afternoon = [
        "redirect: twilio/ivr_action?action=afternoon",
        "say: Good afternoon.",
        "hangup",
    ];
    // An action's hours come before its sample.
    let mut want = after_menu(&[
        "digits: 4",
        "redirect: twilio/ivr_action?action=morning_news",
    ]);
    want.extend(strings(&afternoon));
    assert_eq!(heard(&got[0]), want);
    // An option's hours come before its sample and action.
    let mut want = after_menu(&["digits: 5"]);
    want.extend(strings(&afternoon));
    assert_eq!(heard(&got[1]), want);
    // Unguarded options work.
    assert_eq!(heard(&got[2]).last().unwrap(), "hangup");
    assert!(heard(&got[2]).contains(&"play: https://audio.example.org/news.mp3".to_string()));
    // The menu's hours: no prompt at all.
    let mut want = strings(&MENU[..2]);
    want.extend(strings(&afternoon));
    assert_eq!(heard(&got[3]), want);
}

#[test]
fn invalid_configs_are_refused_naming_the_section_and_field() {
    let (_dir, s, rid) = ivr_server("ivr-invalid", MONDAY_11_DENVER, &[]);
    let api = Api::new(&s);
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = config("America/Denver");
        f(&mut c);
        c
    };
    let cases: Vec<(Value, &str)> = vec![
        (json!({}), "[ivr] timezone: missing (mandatory)"),
        (
            with(&|c| c["ivr"] = json!({"timezone": "Mars/Olympus_Mons", "colour": "red"})),
            "[ivr] timezone: must be a time zone name such as Europe/London; \
             [ivr] colour: unknown field",
        ),
        (
            with(&|c| {
                c["action_sales"].as_object_mut().unwrap().remove("action_on_busy");
                c["action_sales"].as_object_mut().unwrap().remove("action_on_canceled");
                c["action_sales"]["phone_number"] = json!("sales desk");
            }),
            "[action_sales] action_on_busy: missing (mandatory); \
             [action_sales] action_on_canceled: missing (mandatory); \
             [action_sales] phone_number: must be a phone number such as +15551230000 (or a sip: address)",
        ),
        (
            with(&|c| {
                c["action_voicemail"] = json!({"type": "voicemail", "play_sample": "Speak.",
                    "voicemail_alert_sms_to": "nobody", "voicemail_timeout": 0,
                    "voicemail_max_length": 99999});
            }),
            "[action_voicemail] hangup_sample: missing (mandatory); \
             [action_voicemail] voicemail_alert_sms_from: missing (mandatory); \
             [action_voicemail] voicemail_alert_sms_to: must be a phone number such as +15551230000; \
             [action_voicemail] voicemail_timeout: must be a whole number from 1 to 3600; \
             [action_voicemail] voicemail_max_length: must be a whole number from 2 to 14400",
        ),
        (
            with(&|c| {
                c["hours_office"] = json!({"mon": "9-5", "tue": "1700-0900", "wed": "0900-1730",
                    "thu": "0900-2400", "fri": 900, "sat": ""});
            }),
            "[hours_office] sun: missing (mandatory); \
             [hours_office] mon: must be time ranges such as 0900-1730 or 0900-1200,1300-1730 \
             (each within the day, ending after it starts), \"all\", or \"\" when closed; \
             [hours_office] tue: must be time ranges such as 0900-1730 or 0900-1200,1300-1730 \
             (each within the day, ending after it starts), \"all\", or \"\" when closed; \
             [hours_office] thu: must be time ranges such as 0900-1730 or 0900-1200,1300-1730 \
             (each within the day, ending after it starts), \"all\", or \"\" when closed; \
             [hours_office] fri: must be time ranges such as 0900-1730 or 0900-1200,1300-1730 \
             (each within the day, ending after it starts), \"all\", or \"\" when closed",
        ),
        (
            with(&|c| {
                c["ivr_welcome"] = json!({"hours": "weekends"});
                c["ivr_menu_option_1"] = json!({"action": "support"});
                c["ivr_menu"]["no_input_action_on_max_loops"] = json!("");
            }),
            "[ivr_welcome] hours_action_on_closed: missing (mandatory with hours); \
             [ivr_welcome] hours: no section [hours_weekends]; \
             [ivr_menu] no_input_action_on_max_loops: must name an action; \
             [ivr_menu_option_1] action: no section [action_support]",
        ),
        (
            with(&|c| {
                c["ivr_menu_option_10"] = json!({"action": "news"});
                c["action_news"]["type"] = json!("teleport");
                c["action_extra"] = json!("Goodbye.");
                c["action_to_news"]["path"] = json!("/ivr/action/nowhere");
                c["action_start_over"] = json!({"path": "/ivr"});
            }),
            "[action_news] type: must be forward, hangup, redirect or voicemail; \
             [action_to_news] path: must be /ivr, /ivr/menu, /ivr/menu/N, /ivr/action/NAME (an action), \
             /ivr/hangup or an http(s) URL; \
             [action_start_over] type: missing (mandatory); \
             [ivr_menu_option_10]: unknown section (sections: twilio, ivr, ivr_welcome, ivr_menu, \
             ivr_menu_option_0 to 9, action_NAME, hours_NAME); \
             [action_extra]: must be a map of fields",
        ),
        (
            with(&|c| {
                c["ivr_menu"]["pause"] = json!("long");
                c["ivr_menu"]["no_input_max_loops"] = json!(0);
                c["ivr_menu"]["play_sample"] = json!("");
                c["twilio"] = json!({"account_sid": "AC1"});
            }),
            "[ivr_menu] play_sample: must be a recording URL or text to say; \
             [ivr_menu] pause: must be a whole number from 0 to 600; \
             [ivr_menu] no_input_max_loops: must be a whole number from 1 to 100; \
             [twilio] auth_token: missing (mandatory)",
        ),
    ];
    for (config, message) in &cases {
        let (status, body, pico) = try_line(&api, &rid, config.clone());
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"], *message, "{config}");
        assert_eq!(body["rid"], "io.krl.ivr");
        let (_, info) = api.get(&format!("/api/picos/{pico}"));
        assert_eq!(info["rulesets"], json!([]));
    }
    // Not a map at all: the engine says so.
    let (status, body, _) = try_line(&api, &rid, json!(["ivr"]));
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("config must be a JSON object"))
    );
    // The original's [aws] keep-warm section is accepted and ignored.
    let mut c = config("Europe/London");
    c["aws"] = json!({"lambda_ping_endpoint": "https://x.example.org/api/ping",
                      "lambda_ping_frequency_minutes": "5"});
    let eci = line(&api, &rid, c);
    assert_eq!(
        heard(&call(&s, &eci, &["--digits", "3"])).last().unwrap(),
        "hangup"
    );
}

#[test]
fn the_documented_example_config_plays_as_documented() {
    // rulesets/ivr.example.json, the call of docs/seeds/001-ivr.md.
    let (_dir, s, rid) = ivr_server("ivr-example", "2026-03-09T10:15:00Z", &[]);
    let api = Api::new(&s);
    let path = krl_tests::workspace_root().join("rulesets/ivr.example.json");
    let example: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let eci = line(&api, &rid, example);
    let got = call(
        &s,
        &eci,
        &[
            "--digits",
            "1",
            "--dial-status",
            "busy",
            "--from",
            "+447700900123",
        ],
    );
    assert_eq!(
        heard(&got),
        strings(&[
            "say: Thank you for calling Acme.",
            "redirect: twilio/ivr_menu?loop=1",
            "gather",
            "say: For sales, press 1. To leave a message, press 2. To hear our news, press 3. \
             To hear this again, press 9.",
            "pause: 3",
            "digits: 1",
            "redirect: twilio/ivr_action?action=sales",
            "say: Putting you through to sales.",
            "dial: +442079460000",
            "redirect: twilio/ivr_action?action=voicemail",
            "say: Please leave a message after the tone.",
            "pause: 1",
            "record",
            "say: Thank you. We will call you back. Goodbye.",
            "hangup",
        ])
    );
}
