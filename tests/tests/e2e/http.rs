//! KRL's `http:` module through the server, against a small HTTP server
//! the test runs on 127.0.0.1 (port 0): an action `http:post` with
//! `json` and `autoraise`, a rule reacting to `http post`, queries with
//! `http:get` (query string, `parseJSON`, a followed redirect), and a
//! request that gets no answer within `--http-timeout`.

use krl_tests::api::{server, str_of, Api};
use serde_json::{json, Value};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const RULESET: &str = r#"ruleset io.example.http {
  meta { shares fetch, last }
  global {
    fetch = function(url) { http:get(url, qs = {"x": "1 2"}, parseJSON = true) }
    last = function() { ent:last.defaultsTo({}) }
  }
  rule post {
    select when hook send
    http:post(event:attr("url"), json = {"n": 1, "who": "krl"}, autoraise = "hooked")
  }
  rule answered {
    select when http post
    send_directive("answered", {"label": event:attr("label"), "status": event:attr("status_code")})
    always { ent:last := event:attrs }
  }
}
"#;

/// A request the test server saw: method, path with query, content
/// type, body.
type Seen = (String, String, String, String);

/// A tiny HTTP/1.1 server for the test: one thread per connection, one
/// request per connection (`Connection: close`). `/slow` never answers.
struct Upstream {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Upstream {
    fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let log = log.clone();
                std::thread::spawn(move || serve_one(stream, &log));
            }
        });
        Upstream { url, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve_one(stream: TcpStream, log: &Mutex<Vec<Seen>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let (mut length, mut content_type) = (0usize, String::new());
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        if let Some(v) = lower.strip_prefix("content-type:") {
            content_type = v.trim().to_string();
        }
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let body = String::from_utf8_lossy(&body).into_owned();
    log.lock()
        .unwrap()
        .push((method.clone(), path.clone(), content_type, body.clone()));
    let (status, extra, answer) = if path.starts_with("/slow") {
        // No answer: wait until the client gives up and closes.
        let _ = reader.read_to_end(&mut Vec::new());
        return;
    } else if path.starts_with("/redirect") {
        (
            "302 Found",
            "Location: /data?from=redirect\r\n",
            String::new(),
        )
    } else if path.starts_with("/hook") {
        (
            "201 Created",
            "X-Test: yes\r\n",
            json!({"got": body}).to_string(),
        )
    } else {
        (
            "200 OK",
            "",
            json!({"method": method, "path": path}).to_string(),
        )
    };
    let _ = write!(
        &stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}\
         Content-Length: {}\r\nConnection: close\r\n\r\n{answer}",
        answer.len()
    );
}

fn http_pico(api: &Api) -> String {
    api.register_ok(RULESET);
    let (pico, eci) = api.new_pico();
    api.install_ok(&pico, "io.example.http");
    eci
}

#[test]
fn post_with_autoraise_and_get_with_parse_json() {
    let upstream = Upstream::start();
    let (_dir, s) = server("http-real", &[]);
    let api = Api::new(&s);
    let eci = http_pico(&api);

    let hook = format!("{}/hook", upstream.url);
    let (status, body) = api.event(&eci, "hook", "send", json!({"url": hook}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["directives"][0]["options"],
        json!({"label": "hooked", "status": 201}),
        "{body}"
    );
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let (method, path, content_type, sent) = &seen[0];
    assert_eq!((method.as_str(), path.as_str()), ("POST", "/hook"));
    assert_eq!(content_type, "application/json");
    assert_eq!(
        serde_json::from_str::<Value>(sent).unwrap(),
        json!({"n": 1, "who": "krl"})
    );

    // The raised event carried the whole response map.
    let (status, last) = api.query(&eci, "io.example.http", "last", json!({}));
    assert_eq!(status, 200, "{last}");
    assert_eq!(last["status_code"], json!(201));
    assert_eq!(last["status_line"], json!("Created"));
    assert_eq!(last["content_type"], json!("application/json"));
    assert_eq!(last["headers"]["x-test"], json!("yes"));
    assert_eq!(last["label"], json!("hooked"));
    let content = str_of(&last["content"]); // no parseJSON: text
    assert_eq!(last["content_length"], json!(content.len()), "{last}");
    assert_eq!(
        serde_json::from_str::<Value>(&content).unwrap(),
        json!({"got": sent})
    );

    // http:get in a query, with a query string and parseJSON.
    let (status, got) = api.query(
        &eci,
        "io.example.http",
        "fetch",
        json!({"url": format!("{}/data", upstream.url)}),
    );
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["status_code"], json!(200));
    assert_eq!(
        got["content"],
        json!({"method": "GET", "path": "/data?x=1+2"})
    );

    // Redirects are followed.
    let (status, got) = api.query(
        &eci,
        "io.example.http",
        "fetch",
        json!({"url": format!("{}/redirect", upstream.url)}),
    );
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["content"]["path"], json!("/data?from=redirect"));
}

#[test]
fn no_answer_within_the_timeout_is_a_clear_runtime_error() {
    let upstream = Upstream::start();
    let (_dir, s) = server("http-timeout", &["--http-timeout", "1"]);
    let api = Api::new(&s);
    let eci = http_pico(&api);
    let started = Instant::now();
    let (status, body) = api.query(
        &eci,
        "io.example.http",
        "fetch",
        json!({"url": format!("{}/slow", upstream.url)}),
    );
    let took = started.elapsed();
    assert_eq!(status, 500, "{body}");
    let message = str_of(&body["error"]);
    assert!(
        message.contains("http:get") && message.contains("/slow") && message.contains("timed out"),
        "{message}"
    );
    assert_eq!(body["rid"], json!("io.example.http"));
    assert!(body["line"].is_u64() && body["col"].is_u64(), "{body}");
    assert!(took >= Duration::from_millis(900), "gave up after {took:?}");
    assert!(took < Duration::from_secs(8), "took {took:?}");
    // The pico goes on.
    let (status, got) = api.query(
        &eci,
        "io.example.http",
        "fetch",
        json!({"url": format!("{}/data", upstream.url)}),
    );
    assert_eq!((status, got["status_code"].clone()), (200, json!(200)));
}
