//! The people's commands (`krl ruleset register`, `krl pico new`,
//! `krl install`, `krl event`, `krl query`): thin HTTP clients of a running
//! engine's contract. Uses: reqwest (blocking; http, or https by rustls),
//! serde_json.

use anyhow::{anyhow, bail, Context as _};
use reqwest::blocking::{Client as Http, RequestBuilder};
use serde_json::{json, Map, Value};
use std::path::Path;

/// A connection to a running engine.
pub struct Client {
    url: String,
    token: Option<String>,
    http: Http,
}

/// Percent-encodes one path segment.
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Client {
    /// A client of the engine at `url` (e.g. `http://127.0.0.1:3000`).
    pub fn new(url: &str, token: Option<String>) -> Client {
        Client {
            url: url.trim_end_matches('/').to_string(),
            token,
            http: Http::new(),
        }
    }

    fn admin(&self, req: RequestBuilder) -> anyhow::Result<RequestBuilder> {
        let token = self.token.as_deref().ok_or_else(|| {
            anyhow!("this needs the admin token: --admin-token or KRL_ADMIN_TOKEN")
        })?;
        Ok(req.bearer_auth(token))
    }

    /// Sends and reads the answer: JSON (or text) on success, the
    /// engine's `error` (with line:col when given) otherwise.
    fn send(&self, req: RequestBuilder) -> anyhow::Result<Value> {
        let res = req
            .send()
            .with_context(|| format!("cannot reach the engine at {}", self.url))?;
        let status = res.status();
        let text = res.text().context("reading the answer")?;
        let body: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if status.is_success() {
            return Ok(body);
        }
        let msg = body
            .get("error")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| body.to_string());
        match (
            body.get("line").and_then(Value::as_u64),
            body.get("col").and_then(Value::as_u64),
        ) {
            (Some(l), Some(c)) => bail!("{status}: {l}:{c}: {msg}"),
            _ => bail!("{status}: {msg}"),
        }
    }

    /// Whether it has the admin token.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// An admin request: `method` on `/api{path}` with a JSON body.
    pub fn admin_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let mut req = self.http.request(method, format!("{}/api{path}", self.url));
        if let Some(b) = body {
            req = req.json(b);
        }
        self.send(self.admin(req)?)
    }

    /// An admin `GET` whose answer is read as it comes (a stream).
    pub fn admin_stream(&self, path: &str) -> anyhow::Result<reqwest::blocking::Response> {
        let http = Http::builder()
            .timeout(None)
            .build()
            .context("building the HTTP client")?;
        let req = self.admin(http.get(format!("{}/api{path}", self.url)))?;
        let res = req
            .send()
            .with_context(|| format!("cannot reach the engine at {}", self.url))?;
        if !res.status().is_success() {
            let status = res.status();
            let text = res.text().unwrap_or_default();
            bail!("{status}: {}", text.trim());
        }
        Ok(res)
    }

    /// `POST /api/rulesets` with the file's source.
    pub fn register(&self, file: &Path) -> anyhow::Result<Value> {
        let src = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let req = self
            .http
            .post(format!("{}/api/rulesets", self.url))
            .header("content-type", "text/plain; charset=utf-8")
            .body(src);
        self.send(self.admin(req)?)
            .with_context(|| format!("registering {}", file.display()))
    }

    /// `POST /api/picos`.
    pub fn new_pico(&self, parent: Option<&str>, name: Option<&str>) -> anyhow::Result<Value> {
        let mut body = Map::new();
        if let Some(p) = parent {
            body.insert("parent".into(), json!(p));
        }
        if let Some(n) = name {
            body.insert("name".into(), json!(n));
        }
        let req = self
            .http
            .post(format!("{}/api/picos", self.url))
            .json(&body);
        self.send(self.admin(req)?)
    }

    /// `POST /api/picos/{id}/rulesets`.
    pub fn install(&self, pico: &str, rid: &str, config: Option<Value>) -> anyhow::Result<Value> {
        let mut body = json!({ "rid": rid });
        if let Some(c) = config {
            body["config"] = c;
        }
        let req = self
            .http
            .post(format!("{}/api/picos/{}/rulesets", self.url, seg(pico)))
            .json(&body);
        self.send(self.admin(req)?)
    }

    /// `POST /sky/event/{eci}/none/{domain}/{type}` with JSON attributes.
    pub fn event(
        &self,
        eci: &str,
        domain: &str,
        name: &str,
        attrs: Map<String, Value>,
    ) -> anyhow::Result<Value> {
        let url = format!(
            "{}/sky/event/{}/none/{}/{}",
            self.url,
            seg(eci),
            seg(domain),
            seg(name)
        );
        self.send(self.http.post(url).json(&attrs))
    }

    /// `POST /sky/cloud/{eci}/{rid}/{function}` with JSON arguments.
    pub fn query(
        &self,
        eci: &str,
        rid: &str,
        function: &str,
        args: Map<String, Value>,
    ) -> anyhow::Result<Value> {
        let url = format!(
            "{}/sky/cloud/{}/{}/{}",
            self.url,
            seg(eci),
            seg(rid),
            seg(function)
        );
        self.send(self.http.post(url).json(&args))
    }
}

/// `name=value` gives a string, `name:=json` a JSON value (as httpie).
pub fn parse_pairs(pairs: &[String]) -> anyhow::Result<Map<String, Value>> {
    let mut out = Map::new();
    for p in pairs {
        if let Some((k, v)) = p.split_once(":=") {
            if !k.contains('=') {
                let v: Value = serde_json::from_str(v)
                    .with_context(|| format!("{p}: the value after := must be JSON"))?;
                out.insert(k.to_string(), v);
                continue;
            }
        }
        match p.split_once('=') {
            Some((k, v)) => {
                out.insert(k.to_string(), Value::String(v.to_string()));
            }
            None => bail!("{p}: expected name=value or name:=json"),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_strings_or_json() {
        let m = parse_pairs(&[
            "a=1".into(),
            "b:=1".into(),
            "c:=[true]".into(),
            "d=x=y".into(),
        ])
        .unwrap();
        assert_eq!(
            Value::Object(m),
            json!({"a": "1", "b": 1, "c": [true], "d": "x=y"})
        );
        assert!(parse_pairs(&["novalue".into()]).is_err());
        assert!(parse_pairs(&["x:={".into()]).is_err());
    }

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(seg("io.x-y_z~"), "io.x-y_z~");
        assert_eq!(seg("a b/c"), "a%20b%2Fc");
    }
}
