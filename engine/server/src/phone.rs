//! `krl call` and `krl sms`: a local phone for trying IVRs against a
//! running `krl serve` (docs/twilio.md, "Trying an IVR locally"). It
//! posts webhooks as Twilio does (form parameters of docs/spec/twilio.md 1.3/1.5,
//! signed with `X-Twilio-Signature` when given a token), reads the TwiML
//! answers (quick-xml) and follows the call: Gather, Redirect, Dial and
//! Record callbacks, until Hangup/Reject or the end of a document.
//! Uses: reqwest (blocking), quick-xml, the engine's signature module.

use crate::twilio::signature;
use anyhow::{bail, Context as _};
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;
use serde_json::{json, Map, Value};
use std::collections::VecDeque;
use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::time::{Duration, Instant};

/// One TwiML element: name, attributes (in document order), text, children.
#[derive(Debug, Clone, PartialEq)]
pub struct Verb {
    /// Element name (`Say`, `Gather`, ...).
    pub name: String,
    /// Attributes, in document order.
    pub attrs: Vec<(String, String)>,
    /// Its text, trimmed.
    pub text: String,
    /// Nested elements.
    pub children: Vec<Verb>,
}

impl Verb {
    /// The value of attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses a TwiML document: the children of its `<Response>` root.
pub fn parse_twiml(xml: &str) -> anyhow::Result<Vec<Verb>> {
    fn start(e: &BytesStart) -> anyhow::Result<Verb> {
        let mut attrs = Vec::new();
        for a in e.attributes() {
            let a = a?;
            let v = a.normalized_value(quick_xml::XmlVersion::Implicit1_0)?;
            attrs.push((a.key.as_ref().to_string(), v.into_owned()));
        }
        Ok(Verb {
            name: e.name().as_ref().to_string(),
            attrs,
            text: String::new(),
            children: Vec::new(),
        })
    }
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<Verb> = Vec::new();
    let mut root: Option<Verb> = None;
    loop {
        match reader.read_event().context("the answer is not XML")? {
            Event::Start(e) => stack.push(start(&e)?),
            Event::Empty(e) => {
                let v = start(&e)?;
                match stack.last_mut() {
                    Some(p) => p.children.push(v),
                    None => root = Some(v),
                }
            }
            Event::End(_) => {
                let mut v = stack.pop().context("unbalanced XML")?;
                v.text = v.text.trim().to_string();
                match stack.last_mut() {
                    Some(p) => p.children.push(v),
                    None => root = Some(v),
                }
            }
            Event::Text(t) => {
                if let Some(v) = stack.last_mut() {
                    v.text.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) => {
                if let Some(v) = stack.last_mut() {
                    v.text.push_str(t.as_ref());
                }
            }
            Event::GeneralRef(r) => {
                if let Some(v) = stack.last_mut() {
                    let name = r.as_ref().to_string();
                    let c = match name.as_str() {
                        "amp" => "&".to_string(),
                        "lt" => "<".to_string(),
                        "gt" => ">".to_string(),
                        "quot" => "\"".to_string(),
                        "apos" => "'".to_string(),
                        n => match r.resolve_char_ref()? {
                            Some(c) => c.to_string(),
                            None => format!("&{n};"),
                        },
                    };
                    v.text.push_str(&c);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let root = root.context("the answer has no root element")?;
    if root.name != "Response" {
        bail!("the answer's root is <{}>, not <Response>", root.name);
    }
    Ok(root.children)
}

/// How `krl call` and `krl sms` reach the engine.
#[derive(Debug, Clone)]
pub struct PhoneConfig {
    /// Where requests really go (`--url`).
    pub url: String,
    /// The base Twilio believes in (`--public-url`; signatures are over it).
    pub public_url: String,
    /// Signs with this Twilio auth token when given.
    pub auth_token: Option<String>,
    /// The caller.
    pub from: String,
    /// The called number.
    pub to: String,
}

/// Where the input of each Gather comes from.
pub enum Input {
    /// Entries in order (`--digits`, `--script`); none left = no input.
    List(VecDeque<String>),
    /// Asks on stderr, reads a line of stdin.
    Terminal,
    /// Never any input.
    Silent,
}

impl Input {
    /// `--digits 1,2,#`: one entry per Gather.
    pub fn from_digits(s: &str) -> Input {
        Input::List(s.split(',').map(|d| d.trim().to_string()).collect())
    }

    /// A script: one line per Gather (an empty line is no input).
    pub fn from_script(text: &str) -> Input {
        Input::List(text.lines().map(|l| l.trim().to_string()).collect())
    }

    /// The terminal when stdin is one, else nothing.
    pub fn default_for_stdin() -> Input {
        if std::io::stdin().is_terminal() {
            Input::Terminal
        } else {
            Input::Silent
        }
    }

    fn next(&mut self) -> anyhow::Result<String> {
        match self {
            Input::List(q) => Ok(q.pop_front().unwrap_or_default()),
            Input::Silent => Ok(String::new()),
            Input::Terminal => {
                eprint!("digits> ");
                std::io::stderr().flush().ok();
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line)?;
                Ok(line.trim().to_string())
            }
        }
    }
}

/// A random Twilio-style sid: prefix and 32 hex digits.
pub fn sid(prefix: &str) -> String {
    use rand::Rng as _;
    let mut r = rand::thread_rng();
    let hex: String = (0..32)
        .map(|_| char::from_digit(r.gen_range(0..16), 16).unwrap())
        .collect();
    format!("{prefix}{hex}")
}

/// The percentile `p` (0..=100) of sorted `v`, nearest rank.
pub fn percentile(sorted: &[u128], p: f64) -> u128 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Prints the transcript as text or JSON lines.
struct Transcript {
    json: bool,
    start: Instant,
    rtts: Vec<Duration>,
}

impl Transcript {
    fn ms(&self) -> u128 {
        self.start.elapsed().as_millis()
    }

    fn line(&self, verb: &str, text: &str, attrs: &[(String, String)]) {
        let ms = self.ms();
        if self.json {
            let mut m = Map::new();
            m.insert("ms".into(), json!(ms));
            m.insert("verb".into(), json!(verb));
            if !text.is_empty() {
                m.insert("text".into(), json!(text));
            }
            if !attrs.is_empty() {
                let a: Map<String, Value> =
                    attrs.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
                m.insert("attrs".into(), Value::Object(a));
            }
            println!("{}", Value::Object(m));
        } else {
            let mut s = verb.to_string();
            if !attrs.is_empty() {
                let a: Vec<String> = attrs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                s.push_str(&format!(" ({})", a.join(", ")));
            }
            if !text.is_empty() {
                s.push_str(&format!(": {text}"));
            }
            println!("[{ms:>6} ms] {s}");
        }
    }

    /// A verb the caller hears: its attributes (voice, language, loop...)
    /// go into the JSON line only; the text transcript stays `verb: text`.
    fn spoken(&self, verb: &str, text: &str, attrs: &[(String, String)]) {
        self.line(verb, text, if self.json { attrs } else { &[] })
    }

    fn request(&self, url: &str, status: u16, rtt: Duration) {
        let ms = self.ms();
        if self.json {
            println!(
                "{}",
                json!({"ms": ms, "request": url, "status": status, "rtt_ms": rtt.as_millis(),
                       "rtt_us": rtt.as_micros()})
            );
        } else {
            println!(
                "[{ms:>6} ms] -> POST {url}: {status} ({} ms)",
                rtt.as_millis()
            );
        }
    }

    fn summary(&self) {
        let mut v: Vec<u128> = self.rtts.iter().map(|d| d.as_millis()).collect();
        v.sort();
        let (p50, p99) = (percentile(&v, 50.0), percentile(&v, 99.0));
        // The same in microseconds: local round trips are often under 1 ms.
        let mut us: Vec<u128> = self.rtts.iter().map(|d| d.as_micros()).collect();
        us.sort();
        if self.json {
            println!(
                "{}",
                json!({"summary": {"turns": v.len(), "p50_ms": p50, "p99_ms": p99,
                                   "p50_us": percentile(&us, 50.0),
                                   "p99_us": percentile(&us, 99.0)}})
            );
        } else {
            println!("turns {}, p50 {p50} ms, p99 {p99} ms", v.len());
        }
    }
}

/// A phone talking to one engine.
struct Phone {
    cfg: PhoneConfig,
    http: reqwest::blocking::Client,
}

impl Phone {
    fn new(cfg: PhoneConfig) -> Phone {
        Phone {
            cfg,
            http: reqwest::blocking::Client::new(),
        }
    }

    /// The URL Twilio would request for `target` written in the document
    /// at `doc` (absolute, absolute path, or relative).
    fn resolve(&self, doc: &str, target: &str) -> String {
        if target.contains("://") {
            return target.to_string();
        }
        let origin_end = doc
            .find("://")
            .map(|i| doc[i + 3..].find('/').map_or(doc.len(), |j| i + 3 + j))
            .unwrap_or(0);
        if target.starts_with('/') {
            format!("{}{target}", &doc[..origin_end])
        } else {
            let path = doc.split(['?', '#']).next().unwrap_or(doc);
            match path.rfind('/') {
                Some(i) if i >= origin_end => format!("{}{target}", &path[..=i]),
                _ => format!("{path}/{target}"),
            }
        }
    }

    /// The address really connected to: the public base rewritten to `--url`.
    fn real(&self, public: &str) -> String {
        let base = self.cfg.public_url.trim_end_matches('/');
        match public.strip_prefix(base) {
            Some(rest) if rest.is_empty() || rest.starts_with(['/', '?']) => {
                format!("{}{rest}", self.cfg.url.trim_end_matches('/'))
            }
            _ => public.to_string(),
        }
    }

    /// POSTs the form `params` to the public URL `url` (signed over it),
    /// returns the status, the body, and the round-trip time.
    fn post(&self, url: &str, params: &[(String, String)]) -> anyhow::Result<(String, Duration)> {
        let real = self.real(url);
        let body = serde_urlencoded::to_string(params)?;
        let mut req = self
            .http
            .post(&real)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("user-agent", "TwilioProxy/1.1 (krl call)")
            .body(body);
        if let Some(token) = &self.cfg.auth_token {
            req = req.header("X-Twilio-Signature", signature::sign(token, url, params));
        }
        let t0 = Instant::now();
        let res = req
            .send()
            .with_context(|| format!("cannot reach the engine at {real}"))?;
        let status = res.status();
        let reason = res
            .headers()
            .get("x-krl-error")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = res.text().context("reading the answer")?;
        let rtt = t0.elapsed();
        if !status.is_success() {
            // Not the apology TwiML a refused `twilio` event carries: the
            // engine's reason (X-KRL-Error), or the JSON error.
            let msg = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
                .or(reason)
                .unwrap_or_else(|| {
                    let t = text.trim();
                    if t.starts_with("<?xml") || t.starts_with("<Response") {
                        "refused (the engine answered with its apology TwiML)".to_string()
                    } else {
                        t.to_string()
                    }
                });
            let hint = match status.as_u16() {
                403 => " (signature refused: check --auth-token and --public-url)",
                404 => " (unknown channel? krl pico list shows the ECIs)",
                _ => "",
            };
            bail!("POST {real}: {status}{hint}: {msg}");
        }
        Ok((text, rtt))
    }
}

/// The webhook a phone requests first: a whole URL (`http://` or
/// `https://`: any TwiML webhook, this engine's or another's) as is, else
/// an ECI of this engine, whose `twilio` event `kind` it requests under
/// the public base.
pub fn first_url(cfg: &PhoneConfig, target: &str, kind: &str) -> String {
    if is_url(target) {
        target.to_string()
    } else {
        format!(
            "{}/sky/event/{target}/none/twilio/{kind}",
            cfg.public_url.trim_end_matches('/')
        )
    }
}

/// Whether `krl call`/`krl sms` was given a URL rather than an ECI.
pub fn is_url(target: &str) -> bool {
    let t = target.to_ascii_lowercase();
    t.starts_with("http://") || t.starts_with("https://")
}

/// What `krl call` needs beyond the connection.
pub struct CallOptions {
    /// The channel called (an ECI), or the webhook's whole URL.
    pub eci: String,
    /// The event type of the first request.
    pub kind: String,
    /// DialCallStatus of Dial callbacks.
    pub dial_status: String,
    /// JSON lines instead of text.
    pub json: bool,
    /// Safety net against Redirect loops.
    pub max_turns: usize,
}

/// Form parameters of a request.
type Params = Vec<(String, String)>;

/// The call's parameters plus a callback's own.
type Extra<'a> = dyn FnMut(&[(&str, &str)]) -> Params + 'a;

/// What playing a document led to.
enum Next {
    Post(String, Vec<(String, String)>),
    End,
}

/// Runs a call: prints the transcript and the summary.
pub fn call(cfg: PhoneConfig, opts: CallOptions, mut input: Input) -> anyhow::Result<()> {
    let phone = Phone::new(cfg);
    let call_sid = sid("CA");
    let account = sid("AC");
    let base = |status: &str| -> Vec<(String, String)> {
        [
            ("AccountSid", account.as_str()),
            ("ApiVersion", "2010-04-01"),
            ("CallSid", call_sid.as_str()),
            ("CallStatus", status),
            ("Called", phone.cfg.to.as_str()),
            ("Caller", phone.cfg.from.as_str()),
            ("Direction", "inbound"),
            ("From", phone.cfg.from.as_str()),
            ("To", phone.cfg.to.as_str()),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    };
    let mut t = Transcript {
        json: opts.json,
        start: Instant::now(),
        rtts: Vec::new(),
    };
    let mut url = first_url(&phone.cfg, &opts.eci, &opts.kind);
    let mut params = base("ringing");
    loop {
        if t.rtts.len() >= opts.max_turns {
            bail!("more than {} requests: a Redirect loop?", opts.max_turns);
        }
        let (body, rtt) = phone.post(&url, &params)?;
        t.rtts.push(rtt);
        t.request(&phone.real(&url), 200, rtt);
        let verbs = parse_twiml(&body).with_context(|| format!("the answer of {url}: {body}"))?;
        let mut extra = |more: &[(&str, &str)]| {
            let mut p = base("in-progress");
            p.extend(more.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            p
        };
        match play(&phone, &url, &verbs, &opts, &mut input, &mut t, &mut extra)? {
            Next::Post(next, p) => {
                url = next;
                params = p;
            }
            Next::End => break,
        }
    }
    t.summary();
    Ok(())
}

fn play(
    phone: &Phone,
    doc: &str,
    verbs: &[Verb],
    opts: &CallOptions,
    input: &mut Input,
    t: &mut Transcript,
    extra: &mut Extra,
) -> anyhow::Result<Next> {
    for v in verbs {
        let action = v.attr("action").map(|a| phone.resolve(doc, a));
        match v.name.as_str() {
            "Say" | "Play" | "Sms" | "Message" | "Enqueue" | "Leave" => {
                t.spoken(&v.name.to_lowercase(), &v.text, &v.attrs)
            }
            "Pause" => t.line("pause", v.attr("length").unwrap_or("1"), &[]),
            "Gather" => {
                t.line("gather", "", &v.attrs);
                for c in &v.children {
                    let text = match c.name.as_str() {
                        "Pause" => c.attr("length").unwrap_or("1").to_string(),
                        _ => c.text.clone(),
                    };
                    t.line(&c.name.to_lowercase(), &text, &[]);
                }
                let digits = input.next()?;
                let to = action.clone().unwrap_or_else(|| doc.to_string());
                let takes_speech = v
                    .attr("input")
                    .is_some_and(|i| i.split_whitespace().any(|w| w == "speech"));
                // `speech:words` is what the caller says (with input="speech").
                if let Some(said) = digits.strip_prefix("speech:") {
                    let said = said.trim();
                    if takes_speech && !said.is_empty() {
                        t.line("speech", said, &[]);
                        return Ok(Next::Post(
                            to,
                            extra(&[
                                ("Confidence", "0.9"),
                                ("SpeechResult", said),
                                ("msg", "Gather End"),
                            ]),
                        ));
                    }
                }
                let spoken_to_dtmf = digits.starts_with("speech:");
                if digits.is_empty() || spoken_to_dtmf {
                    // Twilio: no input, the next verb after the Gather
                    // (or its action with actionOnEmptyResult="true").
                    let why = if spoken_to_dtmf {
                        "speech, but this Gather does not listen"
                    } else {
                        ""
                    };
                    t.line("no input", why, &[]);
                    if v.attr("actionOnEmptyResult") == Some("true") {
                        return Ok(Next::Post(
                            to,
                            extra(&[("Digits", ""), ("FinishedOnKey", ""), ("msg", "Gather End")]),
                        ));
                    }
                    continue;
                }
                t.line("digits", &digits, &[]);
                let (digits, finished_on) = keys_gathered(
                    &digits,
                    v.attr("finishOnKey").unwrap_or("#"),
                    v.attr("numDigits").and_then(|n| n.trim().parse().ok()),
                );
                return Ok(Next::Post(
                    to,
                    extra(&[
                        ("Digits", &digits),
                        ("FinishedOnKey", &finished_on),
                        ("msg", "Gather End"),
                    ]),
                ));
            }
            "Dial" => {
                let mut to: Vec<String> = Vec::new();
                if !v.text.is_empty() {
                    to.push(v.text.clone());
                }
                for c in &v.children {
                    to.push(format!("{} {}", c.name.to_lowercase(), c.text));
                }
                t.line("dial", &to.join(", "), &[]);
                if let Some(a) = action {
                    let dcs = &opts.dial_status;
                    let dur = if dcs == "completed" { "1" } else { "0" };
                    let dial_sid = sid("CA");
                    return Ok(Next::Post(
                        a,
                        extra(&[
                            ("DialCallStatus", dcs),
                            ("DialCallSid", &dial_sid),
                            ("DialCallDuration", dur),
                        ]),
                    ));
                }
            }
            "Record" => {
                t.line("record", "", &v.attrs);
                if let Some(a) = action {
                    let rec = sid("RE");
                    let rec_url = format!("https://api.twilio.com/2010-04-01/Recordings/{rec}");
                    return Ok(Next::Post(
                        a,
                        extra(&[
                            ("RecordingUrl", &rec_url),
                            ("RecordingDuration", "1"),
                            ("RecordingSid", &rec),
                        ]),
                    ));
                }
            }
            "Redirect" => {
                let to = phone.resolve(doc, &v.text);
                t.line("redirect", &to, &[]);
                return Ok(Next::Post(to, extra(&[])));
            }
            "Hangup" => {
                t.line("hangup", "", &[]);
                return Ok(Next::End);
            }
            "Reject" => {
                t.line("reject", "", &v.attrs);
                return Ok(Next::End);
            }
            other => t.line(&other.to_lowercase(), &v.text, &v.attrs),
        }
    }
    // The document ended without a callback: Twilio hangs up.
    t.line("end", "", &[]);
    Ok(Next::End)
}

/// Posts one SMS webhook to `eci`'s `twilio sms` event (or to the URL
/// `eci`) and prints the `<Message>` replies (JSON lines with `json`).
pub fn sms(cfg: PhoneConfig, eci: &str, body: &str, json: bool) -> anyhow::Result<()> {
    let phone = Phone::new(cfg);
    let msg_sid = sid("SM");
    let account = sid("AC");
    let params: Vec<(String, String)> = [
        ("AccountSid", account.as_str()),
        ("ApiVersion", "2010-04-01"),
        ("Body", body),
        ("From", phone.cfg.from.as_str()),
        ("MessageSid", msg_sid.as_str()),
        ("NumMedia", "0"),
        ("NumSegments", "1"),
        ("SmsMessageSid", msg_sid.as_str()),
        ("SmsSid", msg_sid.as_str()),
        ("SmsStatus", "received"),
        ("To", phone.cfg.to.as_str()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let url = first_url(&phone.cfg, eci, "sms");
    let (text, rtt) = phone.post(&url, &params)?;
    let verbs = parse_twiml(&text).with_context(|| format!("the answer: {text}"))?;
    for v in verbs
        .iter()
        .filter(|v| v.name == "Message" || v.name == "Sms")
    {
        // <Message><Body>..</Body></Message> or plain text.
        let text = v
            .children
            .iter()
            .find(|c| c.name == "Body")
            .map_or(v.text.as_str(), |b| b.text.as_str());
        if json {
            println!("{}", json!({"message": text, "rtt_ms": rtt.as_millis()}));
        } else {
            println!("{text}");
        }
    }
    Ok(())
}

/// What a Gather posts for the keys pressed, as Twilio does: the keys up to
/// the `finishOnKey` key (not included; an empty `finishOnKey` ends on
/// none) or until `numDigits` keys were taken, whichever comes first.
/// Returns `Digits` and `FinishedOnKey`.
fn keys_gathered(typed: &str, finish_on_key: &str, num_digits: Option<usize>) -> (String, String) {
    let mut digits = String::new();
    for (taken, key) in typed.chars().enumerate() {
        if num_digits.is_some_and(|n| taken >= n) {
            break;
        }
        if finish_on_key.contains(key) {
            return (digits, key.to_string());
        }
        digits.push(key);
    }
    (digits, String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_twiml() {
        let v = parse_twiml(
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Say>Hi &amp; bye</Say><Gather action="https://x/a" numDigits="1"><Say>Pick</Say></Gather><Hangup/></Response>"#,
        )
        .unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].text, "Hi & bye");
        assert_eq!(v[1].attr("numDigits"), Some("1"));
        assert_eq!(v[1].children[0].text, "Pick");
        assert_eq!(v[2].name, "Hangup");
        assert!(parse_twiml("<Foo/>").is_err());
        assert!(parse_twiml("<Response/>").unwrap().is_empty());
    }

    #[test]
    fn resolves_and_rewrites_urls() {
        let p = Phone::new(PhoneConfig {
            url: "http://127.0.0.1:9".into(),
            public_url: "https://krl.example.test/".into(),
            auth_token: None,
            from: String::new(),
            to: String::new(),
        });
        let doc = "https://krl.example.test/sky/event/E/none/twilio/a";
        assert_eq!(p.resolve(doc, "/x"), "https://krl.example.test/x");
        assert_eq!(
            p.resolve(doc, "b"),
            "https://krl.example.test/sky/event/E/none/twilio/b"
        );
        assert_eq!(p.resolve(doc, "http://o/z"), "http://o/z");
        assert_eq!(
            p.real("https://krl.example.test/sky/x?y=1"),
            "http://127.0.0.1:9/sky/x?y=1"
        );
        assert_eq!(p.real("https://other/x"), "https://other/x");
    }

    #[test]
    fn percentiles() {
        assert_eq!(percentile(&[], 50.0), 0);
        assert_eq!(percentile(&[5], 99.0), 5);
        let v: Vec<u128> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
    }

    #[test]
    fn gathered_keys_stop_at_the_finish_key_or_num_digits() {
        assert_eq!(keys_gathered("42#", "#", None), ("42".into(), "#".into()));
        assert_eq!(keys_gathered("42", "#", None), ("42".into(), "".into()));
        assert_eq!(keys_gathered("123", "#", Some(1)), ("1".into(), "".into()));
        assert_eq!(keys_gathered("4*2", "*#", None), ("4".into(), "*".into()));
        assert_eq!(keys_gathered("42#", "", None), ("42#".into(), "".into()));
    }
}
