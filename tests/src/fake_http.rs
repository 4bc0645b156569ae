//! The tests' small fake HTTP servers (the fake Twilio REST API, TwiML
//! apps, slow upstreams): [`Fake`] records every request and answers what
//! the test's closure says; below it, reading one request off a socket,
//! writing one answer, and `application/x-www-form-urlencoded` both ways.

use serde_json::Value;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One HTTP/1.1 request as a fake read it.
#[derive(Clone, Debug)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The request target: path and query.
    pub target: String,
    /// Headers in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body (`Content-Length` bytes).
    pub body: Vec<u8>,
    /// When the body had arrived.
    pub at: Instant,
}

impl Request {
    /// The target without its query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The first header `name` (any case), trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as a form, in order (`+` is a space).
    pub fn form(&self) -> Vec<(String, String)> {
        form_decode(&String::from_utf8_lossy(&self.body))
    }

    /// The first form field `name`.
    pub fn field(&self, name: &str) -> Option<String> {
        self.form()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// The `Authorization` header, or empty.
    pub fn auth(&self) -> &str {
        self.header("authorization").unwrap_or("")
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What a [`Fake`] does with a request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Answers: status, `content-type`, more headers, body.
    Answer {
        status: u16,
        content_type: String,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// No answer: holds the connection this long (past the client's time
    /// limit), then closes it.
    Hang(Duration),
    /// No answer: holds the connection until the client closes it.
    HoldUntilClosed,
}

impl Reply {
    /// `status` with a JSON body.
    pub fn json(status: u16, body: &Value) -> Reply {
        Reply::text(status, "application/json", body.to_string())
    }

    /// `status` with `body` of `content_type`.
    pub fn text(status: u16, content_type: &str, body: impl Into<String>) -> Reply {
        Reply::Answer {
            status,
            content_type: content_type.to_string(),
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// The same answer with header `name: value` too.
    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        if let Reply::Answer { headers, .. } = &mut self {
            headers.push((name.to_string(), value.to_string()));
        }
        self
    }
}

/// A fake HTTP/1.1 server on 127.0.0.1: one request per connection, each
/// on a thread of its own, recorded (in the order they arrived) before it
/// is answered.
pub struct Fake {
    port: u16,
    seen: Arc<Mutex<Vec<Request>>>,
}

impl Fake {
    /// Starts one on a free port; `answer(request, n)` decides each reply
    /// (`n`: how many requests it has received, this one included).
    pub fn start(answer: impl Fn(&Request, usize) -> Reply + Send + Sync + 'static) -> Fake {
        Fake::start_on(0, answer)
    }

    /// [`Fake::start`] on `port` (0: a free one), as when a test brings a
    /// fake back on the port the engine was given.
    pub fn start_on(
        port: u16,
        answer: impl Fn(&Request, usize) -> Reply + Send + Sync + 'static,
    ) -> Fake {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("binding a fake");
        let port = listener.local_addr().unwrap().port();
        let seen: Arc<Mutex<Vec<Request>>> = Arc::default();
        let (log, answer) = (seen.clone(), Arc::new(answer));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (log, answer) = (log.clone(), answer.clone());
                std::thread::spawn(move || {
                    let _ = serve_one(stream, &log, &*answer);
                });
            }
        });
        Fake { port, seen }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The requests so far.
    pub fn seen(&self) -> Vec<Request> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve_one(
    mut stream: TcpStream,
    log: &Mutex<Vec<Request>>,
    answer: &(dyn Fn(&Request, usize) -> Reply + Send + Sync),
) -> std::io::Result<()> {
    let req = read_request(&stream)?;
    let n = {
        let mut log = log.lock().unwrap();
        log.push(req.clone());
        log.len()
    };
    match answer(&req, n) {
        Reply::Answer {
            status,
            content_type,
            headers,
            body,
        } => {
            let headers: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let status = format!("{status} {}", reason(status));
            write_response(&stream, &status, &content_type, &headers, &body)
        }
        Reply::Hang(how_long) => {
            std::thread::sleep(how_long);
            Ok(())
        }
        Reply::HoldUntilClosed => stream.read_to_end(&mut Vec::new()).map(drop),
    }
}

/// The reason phrase of `status` (clients do not read it).
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        302 => "Found",
        400 => "Bad Request",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Reads one request (request line, headers, `Content-Length` body).
pub fn read_request(stream: &TcpStream) -> std::io::Result<Request> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap_or(0);
            }
            headers.push((k.to_string(), v.trim().to_string()));
        }
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body)?;
    Ok(Request {
        method,
        target,
        headers,
        body,
        at: Instant::now(),
    })
}

/// Writes one answer and closes the exchange (`connection: close`):
/// status line `status reason`, `content-type`, `headers`, `body`.
pub fn write_response(
    mut stream: &TcpStream,
    status: &str,
    content_type: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()
}

/// `a=1&b=x%20y` → pairs, in order (`+` is a space; a malformed body is
/// no pairs).
pub fn form_decode(s: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str(s).unwrap_or_default()
}

/// Pairs → `a=1&b=x+y`.
pub fn form_encode(params: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(params).expect("strings always encode")
}
