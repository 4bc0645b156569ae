//! `rulesets/gather_echo.krl` through `krl call` against `krl serve`: the
//! digits read back, and a silent caller asked again up to `max_tries`
//! (counted in a call session variable), then told goodbye.

use krl_tests::api::{server, Api};
use krl_tests::phone::{call, heard, line, register, serve_args};
use serde_json::json;

fn asked() -> Vec<String> {
    vec![
        "gather".to_string(),
        "say: Please enter a number, then press the pound key.".to_string(),
    ]
}

#[test]
fn digits_are_read_back_and_silence_is_asked_again_up_to_max_tries() {
    let (_dir, s) = server("gather-echo", &serve_args(&[]));
    let api = Api::new(&s);
    let rid = register(&api, "gather_echo.krl");

    // Digits: read back one by one.
    let eci = line(&api, &rid, json!({}));
    let got = heard(&call(&s, &eci, &["--digits", "42#"]));
    let mut want = asked();
    want.extend(["digits: 42#", "say: You entered 4 2.", "hangup"].map(String::from));
    assert_eq!(got, want);

    // Silence with the default of three tries: three prompts, then goodbye.
    let got = heard(&call(&s, &eci, &["--digits", ""]));
    let goodbye = ["say: Sorry, I did not get a number. Goodbye.", "hangup"];
    let mut want = Vec::new();
    for _ in 0..3 {
        want.extend(asked());
        want.push("no input".to_string());
        want.push(
            got.iter()
                .find(|l| l.starts_with("redirect"))
                .cloned()
                .unwrap(),
        );
    }
    want.extend(goodbye.map(String::from));
    assert_eq!(got, want);

    // The install config sets the prompt and the number of tries.
    let eci = line(
        &api,
        &rid,
        json!({"prompt": "Type your PIN.", "max_tries": 1}),
    );
    let got = heard(&call(&s, &eci, &["--digits", ""]));
    assert_eq!(got[0..2], ["gather", "say: Type your PIN."]);
    assert_eq!(got[got.len() - 2..], goodbye);
    assert_eq!(got.iter().filter(|l| *l == "gather").count(), 1, "{got:?}");
}
