//! Outbound HTTP for KRL's `http:` module (docs/spec/krl-stdlib.md 8.6): the
//! engine's side of `Host::http`. Uses: reqwest (blocking, rustls), tokio
//! (only to step aside from its worker), krl_lang's `HttpRequest` and
//! `Value`.
//!
//! A pico evaluates synchronously inside its tokio task, so a request
//! blocks that pico until the answer (or the time-out): its messages stay
//! in order, as everywhere else. To keep the runtime's other tasks
//! running meanwhile, the wait happens inside
//! `tokio::task::block_in_place` (multi-threaded runtime), and the request
//! itself on a plain thread of its own: reqwest's blocking client must not
//! run on a thread that drives async tasks.
//!
//! The answer is the map of 8.6: `content` (text, or decoded JSON with
//! `parseJSON` when it decodes), `content_type`, `content_length` (the
//! header, else the body's length in bytes), `headers` (lower-case names,
//! repeated headers joined with `, `), `status_code`, `status_line` (the
//! status's reason phrase, e.g. `OK`). HTTP error statuses are answers;
//! network failures and time-outs are KRL runtime errors.

use krl_lang::engine::HttpRequest;
use krl_lang::runtime::{Map as KrlMap, RuntimeError, Value as KrlValue};
use reqwest::blocking::Client;
use reqwest::header::{HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, USER_AGENT};
use std::io::Read as _;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// How long a request may take when nothing else is said (`--http-timeout`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest response body read; a larger one is an error rather than
/// a pico's memory.
pub const MAX_BODY: u64 = 16 * 1024 * 1024;

/// The `user-agent` sent when the rule gives none.
const AGENT: &str = concat!("krl/", env!("CARGO_PKG_VERSION"));

/// The engine's HTTP clients (one that follows redirects, one that does
/// not), made on first use, on a plain thread. Cheap to share (`Arc`).
#[derive(Debug)]
pub struct HttpClient {
    timeout: Duration,
    follow: OnceLock<Result<Client, String>>,
    no_follow: OnceLock<Result<Client, String>>,
}

impl HttpClient {
    /// Clients whose requests take at most `timeout` each (connecting,
    /// sending, and reading the whole answer).
    pub fn new(timeout: Duration) -> Arc<HttpClient> {
        Arc::new(HttpClient {
            timeout,
            follow: OnceLock::new(),
            no_follow: OnceLock::new(),
        })
    }

    /// The time limit of one request.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs `request` and answers the response map. Blocks the calling
    /// thread (see the module doc for why that is safe in a pico task).
    pub fn send(self: &Arc<Self>, request: &HttpRequest) -> Result<KrlValue, RuntimeError> {
        let this = self.clone();
        let work = move || {
            std::thread::scope(|s| {
                s.spawn(|| this.send_here(request))
                    .join()
                    .unwrap_or_else(|_| Err(RuntimeError::new("the http: request panicked")))
            })
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(work)
            }
            // No runtime, or a single-threaded one (tests): just wait.
            _ => work(),
        }
    }

    fn client(&self, follow: bool) -> Result<&Client, RuntimeError> {
        let (cell, policy) = if follow {
            (&self.follow, reqwest::redirect::Policy::limited(10))
        } else {
            (&self.no_follow, reqwest::redirect::Policy::none())
        };
        cell.get_or_init(|| {
            Client::builder()
                .timeout(self.timeout)
                .redirect(policy)
                .build()
                .map_err(|e| format!("cannot make an HTTP client: {}", chain(&e)))
        })
        .as_ref()
        .map_err(|e| RuntimeError::new(e.clone()))
    }

    /// The request, on the current (plain) thread.
    fn send_here(&self, req: &HttpRequest) -> Result<KrlValue, RuntimeError> {
        let what = format!("http:{} {}", req.method.to_ascii_lowercase(), req.url);
        let fail = |why: String| RuntimeError::new(format!("{what} failed: {why}"));
        let mut url = reqwest::Url::parse(&req.url).map_err(|e| fail(format!("bad url: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(fail(format!(
                "only http and https urls are supported, not {}:",
                url.scheme()
            )));
        }
        if !req.qs.is_empty() {
            url.query_pairs_mut().extend_pairs(req.qs.iter());
        }
        let method = reqwest::Method::from_bytes(req.method.as_bytes())
            .map_err(|_| fail(format!("unknown method {}", req.method)))?;
        let mut builder = self.client(!req.dont_follow_redirect)?.request(method, url);
        let has = |name: &HeaderName| {
            req.headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case(name.as_str()))
        };
        for (k, v) in &req.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| fail(format!("bad header name {k:?}")))?;
            let value =
                HeaderValue::from_str(v).map_err(|_| fail(format!("bad value of header {k:?}")))?;
            builder = builder.header(name, value);
        }
        if !has(&USER_AGENT) {
            builder = builder.header(USER_AGENT, AGENT);
        }
        if let Some((body, content_type)) = &req.body {
            if let Some(ct) = content_type.filter(|_| !has(&CONTENT_TYPE)) {
                builder = builder.header(CONTENT_TYPE, ct);
            }
            builder = builder.body(body.clone());
        }
        if let Some((user, password)) = &req.auth {
            builder = builder.basic_auth(user, Some(password));
        }
        let timed_out = || {
            RuntimeError::new(format!(
                "{what} timed out: no complete answer within {}",
                seconds(self.timeout)
            ))
        };
        let res = builder.send().map_err(|e| {
            if e.is_timeout() {
                timed_out()
            } else {
                fail(chain(&e))
            }
        })?;
        let status = res.status();
        let mut headers = KrlMap::default();
        for (name, value) in res.headers() {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            let key: Arc<str> = Arc::from(name.as_str());
            let joined = match headers.get(&key) {
                Some(KrlValue::Str(before)) => format!("{before}, {value}"),
                _ => value,
            };
            headers.insert(key, KrlValue::from(joined.as_str()));
        }
        let content_type = res
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let declared_length = res
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok());
        let mut body = Vec::new();
        res.take(MAX_BODY + 1).read_to_end(&mut body).map_err(|e| {
            let timeout = std::error::Error::source(&e)
                .and_then(|s| s.downcast_ref::<reqwest::Error>())
                .is_some_and(reqwest::Error::is_timeout)
                || e.kind() == std::io::ErrorKind::TimedOut;
            if timeout {
                timed_out()
            } else {
                fail(format!("reading the answer: {e}"))
            }
        })?;
        if body.len() as u64 > MAX_BODY {
            return Err(fail(format!("the answer is larger than {MAX_BODY} bytes")));
        }
        let text = String::from_utf8_lossy(&body).into_owned();
        let content = if req.parse_json {
            serde_json::from_str::<serde_json::Value>(&text)
                .map(|j| KrlValue::from_json(&j))
                .unwrap_or_else(|_| KrlValue::from(text.as_str()))
        } else {
            KrlValue::from(text.as_str())
        };
        let mut out = KrlMap::default();
        out.insert(Arc::from("content"), content);
        out.insert(
            Arc::from("content_type"),
            content_type.map_or(KrlValue::Null, |c| KrlValue::from(c.as_str())),
        );
        out.insert(
            Arc::from("content_length"),
            KrlValue::Number(declared_length.unwrap_or(body.len() as f64)),
        );
        out.insert(Arc::from("headers"), KrlValue::from(headers));
        out.insert(
            Arc::from("status_code"),
            KrlValue::Number(f64::from(status.as_u16())),
        );
        out.insert(
            Arc::from("status_line"),
            KrlValue::from(status.canonical_reason().unwrap_or("")),
        );
        Ok(KrlValue::from(out))
    }
}

/// An error with its causes, `a: b: c`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !out.contains(&more) {
            out.push_str(": ");
            out.push_str(&more);
        }
        source = s.source();
    }
    out
}

/// `10 s`, `1.5 s`.
fn seconds(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead as _, BufReader, Write as _};
    use std::net::TcpListener;

    /// A one-shot server: answers the first request with `answer`, and
    /// hands back the request's head and body.
    fn one_shot(answer: &'static str) -> (String, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                if line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            (&stream).write_all(answer.as_bytes()).unwrap();
            head + &String::from_utf8(body).unwrap()
        });
        (url, handle)
    }

    #[test]
    fn request_and_response_map() {
        let (url, server) = one_shot(
            "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nX-A: 1\r\nX-A: 2\r\n\
             Content-Length: 8\r\nConnection: close\r\n\r\n{\"n\": 1}",
        );
        let client = HttpClient::new(Duration::from_secs(5));
        let req = HttpRequest {
            method: "POST".into(),
            url: format!("{url}/hook?a=1"),
            qs: vec![("b".into(), "x y".into())],
            headers: vec![("X-Mine".into(), "yes".into())],
            body: Some(("{\"k\":true}".into(), Some("application/json"))),
            auth: Some(("ann".into(), "pw".into())),
            parse_json: true,
            dont_follow_redirect: false,
        };
        let answer = client.send(&req).unwrap().to_json();
        let seen = server.join().unwrap();
        assert!(
            seen.starts_with("POST /hook?a=1&b=x+y HTTP/1.1\r\n"),
            "{seen}"
        );
        let lower = seen.to_ascii_lowercase();
        assert!(lower.contains("x-mine: yes"), "{seen}");
        assert!(lower.contains("content-type: application/json"), "{seen}");
        assert!(lower.contains("authorization: basic "), "{seen}");
        assert!(lower.contains(&format!("user-agent: {AGENT}")), "{seen}");
        assert!(seen.ends_with("{\"k\":true}"), "{seen}");
        assert_eq!(answer["status_code"], serde_json::json!(201));
        assert_eq!(answer["status_line"], serde_json::json!("Created"));
        assert_eq!(answer["content"], serde_json::json!({"n": 1}));
        assert_eq!(
            answer["content_type"],
            serde_json::json!("application/json")
        );
        assert_eq!(answer["content_length"], serde_json::json!(8));
        assert_eq!(answer["headers"]["x-a"], serde_json::json!("1, 2"));
    }

    #[test]
    fn refused_connections_and_bad_urls_are_errors() {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let client = HttpClient::new(Duration::from_secs(5));
        let get = |url: &str| HttpRequest {
            method: "GET".into(),
            url: url.into(),
            ..Default::default()
        };
        let e = client
            .send(&get(&format!("http://127.0.0.1:{port}/")))
            .unwrap_err();
        assert!(
            e.message.starts_with("http:get http://127.0.0.1:"),
            "{}",
            e.message
        );
        let e = client.send(&get("ftp://example.test/")).unwrap_err();
        assert!(e.message.contains("only http and https"), "{}", e.message);
    }
}
