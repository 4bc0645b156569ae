//! The test vectors of docs/spec/twilio.md 3.4 (twilio-signature-vectors.json,
//! computed with twilio-python 9.13.0's `RequestValidator`), copied here
//! as literals.

use super::*;

const TOKEN: &str = "9f86d081884c7d659a2feaa0c55ad015";

fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The common voice parameters `V`, with `CallStatus` as given.
fn voice(status: &str) -> Vec<(String, String)> {
    p(&[
        ("AccountSid", "AC00000000000000000000000000000001"),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", "CA00000000000000000000000000000001"),
        ("CallStatus", status),
        ("Called", "+15005550006"),
        ("Caller", "+14155551234"),
        ("Direction", "inbound"),
        ("From", "+14155551234"),
        ("To", "+15005550006"),
    ])
}

fn with(mut base: Vec<(String, String)>, more: &[(&str, &str)]) -> Vec<(String, String)> {
    base.extend(p(more));
    base
}

/// Each vector: its signature is what `sign` computes, `validate` accepts
/// it, and a one-character change is refused.
#[track_caller]
fn vector(token: &str, url: &str, params: &[(String, String)], signature: &str) {
    assert_eq!(sign(token, url, params), signature, "{url}");
    assert!(validate(token, url, params, signature), "{url}");
    let mut forged = signature.to_string();
    let last = if forged.ends_with("A=") { "B=" } else { "A=" };
    forged.replace_range(forged.len() - 2.., last);
    assert!(!validate(token, url, params, &forged), "{url}");
    assert!(!validate("wrong-token", url, params, signature), "{url}");
}

#[test]
fn v1_official_library_test() {
    vector(
        "12345",
        "https://mycompany.com/myapp.php?foo=1&bar=2",
        &p(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
            ("Caller", "+14158675309"),
        ]),
        "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
    );
}

#[test]
fn v2_voice_initial_no_query() {
    vector(
        TOKEN,
        "https://krl.example.org/sky/event/ECI123/none/twilio/voice",
        &voice("ringing"),
        "GGNPluVqhPOth4vnsacT4P+D30A=",
    );
}

#[test]
fn v3_query_string() {
    let url = "https://krl.example.org/sky/event/ECI123/none/twilio/gather?step=menu&lang=en";
    let params = with(voice("in-progress"), &[("Digits", "1")]);
    assert_eq!(
        signing_string(url, &params),
        "https://krl.example.org/sky/event/ECI123/none/twilio/gather?step=menu&lang=en\
         AccountSidAC00000000000000000000000000000001ApiVersion2010-04-01\
         CallSidCA00000000000000000000000000000001CallStatusin-progress\
         Called+15005550006Caller+14155551234Digits1Directioninbound\
         From+14155551234To+15005550006"
    );
    vector(TOKEN, url, &params, "BUjGLvzz9lj4TjC9cHJUdYQMP1I=");
}

#[test]
fn v4_port_in_url() {
    vector(
        TOKEN,
        "https://krl.example.org:8443/sky/event/ECI123/none/twilio/voice",
        &voice("ringing"),
        "Ds1WFMW80/anY23G/ZFRl5jaGsQ=",
    );
}

#[test]
fn v5_http_with_a_port() {
    vector(
        TOKEN,
        "http://127.0.0.1:3000/sky/event/ECI123/none/twilio/voice",
        &voice("ringing"),
        "v6ZzxA9cxeUs2ev+ZrUTgdDUozg=",
    );
}

#[test]
fn v6_repeated_and_unicode() {
    let url = "https://krl.example.org/sky/event/ECI123/none/twilio/sms";
    let params = p(&[
        ("Body", "Café ☕ ünïcödé 👍"),
        ("From", "+14155551234"),
        ("To", "+15005550006"),
        ("MediaUrl", "https://x.example/b.jpg"),
        ("MediaUrl", "https://x.example/a.jpg"),
        ("MediaUrl", "https://x.example/a.jpg"),
    ]);
    assert_eq!(
        signing_string(url, &params),
        "https://krl.example.org/sky/event/ECI123/none/twilio/smsBodyCafé ☕ ünïcödé 👍\
         From+14155551234MediaUrlhttps://x.example/a.jpgMediaUrlhttps://x.example/b.jpg\
         To+15005550006"
    );
    vector(TOKEN, url, &params, "pYCfijiaSIFbh262o0l9AsmJH+Y=");
    // The same parameters as Twilio sends them on the wire.
    let wire = "Body=Caf%C3%A9+%E2%98%95+%C3%BCn%C3%AFc%C3%B6d%C3%A9+%F0%9F%91%8D&From=%2B14155551234&To=%2B15005550006&MediaUrl=https%3A%2F%2Fx.example%2Fb.jpg&MediaUrl=https%3A%2F%2Fx.example%2Fa.jpg&MediaUrl=https%3A%2F%2Fx.example%2Fa.jpg";
    let req = SignedRequest {
        url,
        signature: Some("pYCfijiaSIFbh262o0l9AsmJH+Y="),
        form: true,
        body: wire.as_bytes(),
    };
    assert_eq!(check(TOKEN, &req), Ok(()));
}

#[test]
fn v7_get_without_body() {
    let url = "https://krl.example.org/sky/event/ECI123/none/twilio/voice?CallSid=CA1&From=%2B14155551234";
    vector(TOKEN, url, &[], "WT4hqiPi6qDsHDz7rtHQNtDZvK0=");
    let req = SignedRequest {
        url,
        signature: Some("WT4hqiPi6qDsHDz7rtHQNtDZvK0="),
        form: false,
        body: b"",
    };
    assert_eq!(check(TOKEN, &req), Ok(()));
}

#[test]
fn v8_empty_values_still_count() {
    vector(
        TOKEN,
        "https://krl.example.org/sky/event/ECI123/none/twilio/gather",
        &with(voice("ringing"), &[("Digits", ""), ("SpeechResult", "")]),
        "ZvbzjcYKXK/CdVEr67nXHKl5/z4=",
    );
}

#[test]
fn v9_json_body() {
    let url = "https://krl.example.org/sky/event/ECI123/none/twilio/json?x=1&bodySHA256=d3ece21c91ee4c887f381eff4b78779bae935479e6f131b34b40adbe351f6aba";
    let body = br#"{"CallSid":"CA00000000000000000000000000000001","Event":"test"}"#;
    let sig = "L4jmdazcXMZoI2Ro4RF0suI58aM=";
    vector(TOKEN, url, &[], sig);
    assert!(validate_body(TOKEN, url, body, sig));
    // Another body under the same signed URL: the hash no longer matches.
    assert!(!validate_body(TOKEN, url, br#"{"CallSid":"CA2"}"#, sig));
    let req = SignedRequest {
        url,
        signature: Some(sig),
        form: false,
        body,
    };
    assert_eq!(check(TOKEN, &req), Ok(()));
}

#[test]
fn v10_json_body_official_test() {
    let url = "https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
    let body = br#"{"property": "value", "boolean": true}"#;
    let sig = "a9nBmqA0ju/hNViExpshrM61xv4=";
    vector("12345", url, &[], sig);
    assert!(validate_body("12345", url, body, sig));
    assert!(!validate_body("12345", url, b"{}", sig));
}

/// The port variants of vector 2, validated against the public URL
/// `https://krl.example.org`.
#[test]
fn port_variants() {
    let url = "https://krl.example.org/sky/event/ECI123/none/twilio/voice";
    let params = voice("ringing");
    // signed with :443: accepted
    assert!(validate(
        TOKEN,
        url,
        &params,
        "XtAuzFbqYFMN3G0jtZSOO4i1910="
    ));
    assert_eq!(
        sign(
            TOKEN,
            "https://krl.example.org:443/sky/event/ECI123/none/twilio/voice",
            &params
        ),
        "XtAuzFbqYFMN3G0jtZSOO4i1910="
    );
    // signed over http: refused
    assert!(!validate(
        TOKEN,
        url,
        &params,
        "zIzKeWYAa3EYzSo5KsaFo1E0fNw="
    ));
    // signed with a trailing slash: refused
    assert!(!validate(
        TOKEN,
        url,
        &params,
        "zeMCxNu6mB7nhk6GNCTZn1Nd+og="
    ));
    // And the other way round: a public URL with :443 accepts a
    // signature made without it.
    assert!(validate(
        TOKEN,
        "https://krl.example.org:443/sky/event/ECI123/none/twilio/voice",
        &params,
        "GGNPluVqhPOth4vnsacT4P+D30A="
    ));
}

#[test]
fn url_variants_add_or_remove_only_the_default_port() {
    assert_eq!(
        url_variants("https://h.example/a?b=1"),
        ["https://h.example/a?b=1", "https://h.example:443/a?b=1"]
    );
    assert_eq!(
        url_variants("https://h.example:443/a"),
        ["https://h.example:443/a", "https://h.example/a"]
    );
    assert_eq!(
        url_variants("http://h.example"),
        ["http://h.example", "http://h.example:80"]
    );
    assert_eq!(
        url_variants("http://h.example:80?x"),
        ["http://h.example:80?x", "http://h.example?x"]
    );
    assert_eq!(
        url_variants("https://h.example:8443/a"),
        ["https://h.example:8443/a"]
    );
    assert_eq!(
        url_variants("http://h.example:443/"),
        ["http://h.example:443/"]
    );
    assert_eq!(
        url_variants("https://[::1]/a"),
        ["https://[::1]/a", "https://[::1]:443/a"]
    );
    assert_eq!(
        url_variants("https://[::1]:443/a"),
        ["https://[::1]:443/a", "https://[::1]/a"]
    );
    assert_eq!(url_variants("not a url"), ["not a url"]);
}

#[test]
fn request_url_joins_the_public_base_and_the_raw_target() {
    assert_eq!(
        request_url(
            "https://krl.example.org/",
            "/sky/event/E/none/twilio/voice?a=%2B1"
        ),
        "https://krl.example.org/sky/event/E/none/twilio/voice?a=%2B1"
    );
    assert_eq!(
        request_url("https://x.example/krl", "/sky/event/E/none/t/v"),
        "https://x.example/krl/sky/event/E/none/t/v"
    );
}

#[test]
fn check_refuses_what_is_missing_forged_or_unsigned() {
    let url = "https://krl.example.org/sky/event/ECI123/none/twilio/voice";
    let body = "AccountSid=AC00000000000000000000000000000001&ApiVersion=2010-04-01&CallSid=CA00000000000000000000000000000001&CallStatus=ringing&Called=%2B15005550006&Caller=%2B14155551234&Direction=inbound&From=%2B14155551234&To=%2B15005550006";
    let good = SignedRequest {
        url,
        signature: Some("GGNPluVqhPOth4vnsacT4P+D30A="),
        form: true,
        body: body.as_bytes(),
    };
    assert_eq!(check(TOKEN, &good), Ok(()));
    // missing header
    let req = SignedRequest {
        signature: None,
        ..good
    };
    assert_eq!(check(TOKEN, &req), Err(Rejected::Missing));
    // a parameter changed
    let changed = body.replace("ringing", "completed");
    let req = SignedRequest {
        body: changed.as_bytes(),
        ..good
    };
    assert_eq!(check(TOKEN, &req), Err(Rejected::Invalid));
    // a parameter added
    let added = format!("{body}&Digits=1");
    let req = SignedRequest {
        body: added.as_bytes(),
        ..good
    };
    assert_eq!(check(TOKEN, &req), Err(Rejected::Invalid));
    // replayed to another URL
    let req = SignedRequest {
        url: "https://krl.example.org/sky/event/OTHER/none/twilio/voice",
        ..good
    };
    assert_eq!(check(TOKEN, &req), Err(Rejected::Invalid));
    // garbage signature
    let req = SignedRequest {
        signature: Some("not base64 at all"),
        ..good
    };
    assert_eq!(check(TOKEN, &req), Err(Rejected::Invalid));
    // the body sent as JSON under a URL-only signature: not covered
    let req = SignedRequest {
        form: false,
        body: br#"{"CallSid": "CA1"}"#,
        ..good
    };
    assert_eq!(check(TOKEN, &req), Err(Rejected::UnsignedBody));
}
