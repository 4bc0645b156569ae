//! `rulesets/caller_id_greeting.krl` through `krl call` against `krl serve`:
//! callers in the install config's directory are greeted by name, others
//! as "friend", in the configured voice, and the pico keeps the last 20
//! calling numbers.

use krl_tests::api::{server, Api};
use krl_tests::phone::{
    attrs_of, call, calls, heard, line_and_pico, register, serve_args, system_eci,
};
use serde_json::json;

#[test]
fn known_callers_by_name_others_as_friend_and_the_last_twenty_kept() {
    let (_dir, s) = server("caller-id", &serve_args(&[]));
    let api = Api::new(&s);
    let rid = register(&api, "caller_id_greeting.krl");
    let (eci, pico) = line_and_pico(
        &api,
        &rid,
        json!({"directory": {"+15550001": "Ada", "+15550002": "Grace"}, "voice": "man"}),
    );

    let got = call(&s, &eci, &["--from", "+15550002"]);
    assert_eq!(
        heard(&got),
        ["say: Hello Grace, thanks for calling.", "hangup"]
    );
    assert_eq!(attrs_of(&got, "say")["voice"], "man");
    let got = call(&s, &eci, &["--from", "+15557777"]);
    assert_eq!(
        heard(&got),
        ["say: Hello friend, thanks for calling.", "hangup"]
    );

    // 22 callers in all: the oldest two are dropped.
    let numbers: Vec<String> = (0..20).map(|i| format!("+1555100{i:04}")).collect();
    for n in &numbers {
        call(&s, &eci, &["--from", n]);
    }
    let own = system_eci(&api, &pico);
    let (status, kept) = api.query(&own, &rid, "callers", json!({}));
    assert_eq!(status, 200, "{kept}");
    assert_eq!(kept, json!(numbers));

    // Without a config: the configure using defaults (empty directory,
    // the alice voice).
    let (eci, _) = line_and_pico(&api, &rid, json!({}));
    let got = calls(&s, &[(&eci, vec!["--from", "+15550001"])]);
    assert_eq!(
        heard(&got[0]),
        ["say: Hello friend, thanks for calling.", "hangup"]
    );
    assert_eq!(attrs_of(&got[0], "say")["voice"], "alice");
}
