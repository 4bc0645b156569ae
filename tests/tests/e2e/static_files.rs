//! Static files through `krl serve --static DIR` (docs/twilio.md "Audio
//! files"): `/static/<path>` with its content type, ETag and the
//! fingerprint cache rule; `twilio:url_for` in a rule gives the
//! fingerprinted URL, which follows a rewritten file without a restart;
//! `/static-loop/<path>` hold music; unsafe paths are refused.

use krl_tests::api::{server, Api};
use reqwest::blocking::Client;
use serde_json::json;

const PUBLIC: &str = "https://krl.example.test";

const IVR: &str = r#"ruleset io.example.ivr {
  meta { shares url }
  global { url = function(f) { twilio:url_for(f) } }
  rule answer {
    select when twilio inbound_call
    twilio:play(twilio:url_for("intro.mp3"))
  }
}
"#;

/// The `v` of the first `?v=` in `s`.
fn hash_in(s: &str) -> String {
    let i = s.find("?v=").unwrap_or_else(|| panic!("no ?v= in {s}")) + 3;
    s[i..i + 16].to_string()
}

fn header(res: &reqwest::blocking::Response, name: &str) -> String {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

#[test]
fn static_files_fingerprints_and_twiml() {
    let scratch = krl_tests::ScratchDir::new("static-files");
    let dir = scratch.path().join("static");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("intro.mp3"), b"ID3 first version").unwrap();
    std::fs::write(dir.join("notes.txt"), b"hello").unwrap();
    std::fs::write(scratch.path().join("secret.txt"), b"TOPSECRET").unwrap();
    let d = dir.to_str().unwrap();
    let (_data, s) = server("static-files-srv", &["--static", d, "--public-url", PUBLIC]);
    let api = Api::new(&s);
    let (_, eci) = api.pico_with(IVR);
    let c = Client::new();

    // the rule's TwiML plays the fingerprinted URL
    let twiml = || {
        let (status, twiml) = api.twilio(
            &eci,
            "inbound_call",
            &[("CallSid", "CA1"), ("From", "+15550001111")],
        );
        assert_eq!(status, 200, "{twiml}");
        twiml
    };
    let first = twiml();
    assert!(
        first.contains(&format!("<Play>{PUBLIC}/static/intro.mp3?v=")),
        "{first}"
    );
    let h1 = hash_in(&first);
    assert!(h1.bytes().all(|b| b.is_ascii_hexdigit()), "{h1}");

    // the right ?v= → immutable caching, the content and type, an ETag
    let res = c
        .get(format!("{}/static/intro.mp3?v={h1}", s.url))
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(
        header(&res, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(header(&res, "content-type"), "audio/mpeg");
    assert_eq!(header(&res, "etag"), format!("\"{h1}\""));
    assert_eq!(res.bytes().unwrap().as_ref(), b"ID3 first version");
    // no ?v= → no-cache; If-None-Match → 304
    let res = c.get(format!("{}/static/notes.txt", s.url)).send().unwrap();
    assert_eq!(header(&res, "cache-control"), "no-cache");
    assert_eq!(header(&res, "content-type"), "text/plain; charset=utf-8");
    let res = c
        .get(format!("{}/static/intro.mp3", s.url))
        .header("if-none-match", format!("\"{h1}\""))
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 304);

    // hold music
    let res = c
        .post(format!("{}/static-loop/intro.mp3", s.url))
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert!(header(&res, "content-type").starts_with("text/xml"));
    let body = res.text().unwrap();
    assert!(
        body.contains(&format!(
            "<Response><Play loop=\"0\">{PUBLIC}/static/intro.mp3?v={h1}</Play></Response>"
        )),
        "{body}"
    );

    // rewrite the file: the next event's URL changes, the old ?v= is stale
    std::fs::write(dir.join("intro.mp3"), b"ID3 second, longer version").unwrap();
    let second = twiml();
    let h2 = hash_in(&second);
    assert_ne!(h1, h2, "{second}");
    let res = c
        .get(format!("{}/static/intro.mp3?v={h1}", s.url))
        .send()
        .unwrap();
    assert_eq!(header(&res, "cache-control"), "no-cache");
    assert_eq!(res.bytes().unwrap().as_ref(), b"ID3 second, longer version");
    let res = c
        .get(format!("{}/static/intro.mp3?v={h2}", s.url))
        .send()
        .unwrap();
    assert_eq!(
        header(&res, "cache-control"),
        "public, max-age=31536000, immutable"
    );

    // a query sees the same URL
    let (status, url) = api.query(&eci, "io.example.ivr", "url", json!({"f": "intro.mp3"}));
    assert_eq!(status, 200, "{url}");
    assert_eq!(url, json!(format!("{PUBLIC}/static/intro.mp3?v={h2}")));

    // missing → 404 JSON; `..` (as an encoded slash, which clients do not
    // normalise) → refused
    let res = c.get(format!("{}/static/nope.mp3", s.url)).send().unwrap();
    assert_eq!(res.status().as_u16(), 404);
    let body: serde_json::Value = res.json().unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("nope.mp3"),
        "{body}"
    );
    for bad in [
        "x%2F..%2F..%2Fsecret.txt",
        "..%2Fsecret.txt",
        "%2Fetc%2Fpasswd",
    ] {
        let res = c.get(format!("{}/static/{bad}", s.url)).send().unwrap();
        let status = res.status().as_u16();
        let text = res.text().unwrap();
        assert_eq!(status, 400, "{bad}: {text}");
        assert!(!text.contains("TOPSECRET"), "{text}");
    }
    // and from a rule
    let (status, err) = api.query(&eci, "io.example.ivr", "url", json!({"f": "../secret.txt"}));
    assert_ne!(status, 200, "{err}");
    assert!(err.to_string().contains("not allowed"), "{err}");
}

#[test]
fn url_for_without_static_is_a_clear_error() {
    let (_data, s) = server("static-none", &[]);
    let api = Api::new(&s);
    let (_, eci) = api.pico_with(IVR);
    let (status, err) = api.query(&eci, "io.example.ivr", "url", json!({"f": "intro.mp3"}));
    assert_ne!(status, 200, "{err}");
    assert!(err.to_string().contains("--static"), "{err}");
    let res = Client::new()
        .get(format!("{}/static/intro.mp3", s.url))
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 404);
}
