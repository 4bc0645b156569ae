//! `http:` (docs/spec/krl-stdlib.md 8.6): outbound HTTP requests through
//! the host's [`HttpHost`](crate::host::HttpHost). `get` and `head` are
//! functions and actions; `post`, `put`, `patch` and `delete` are actions.
//! With `autoraise`, the response is also raised as `http:<method>`.

use super::{Kind, Member, Module, NativeArgs, NativeCx};
use crate::host::HttpRequest;
use crate::runtime::{Map, RuntimeError, Value};
use std::sync::Arc;

/// `http:`.
pub static MODULE: Module = Module {
    domain: "http",
    doc: "Outbound HTTP requests.",
    members: MEMBERS,
    ..Module::BLANK
};

/// The parameters of every `http:` member: the url, then the options.
const PARAMS: &[&str] = &[
    "url",
    "qs",
    "headers",
    "body",
    "auth",
    "json",
    "form",
    "parseJSON",
    "autoraise",
    "dontFollowRedirect",
    "autosend",
];

macro_rules! method {
    ($name:literal, $kind:ident, $doc:literal) => {
        Member {
            name: $name,
            params: PARAMS,
            kind: Kind::$kind(|cx, a| request(cx, $name, a)),
            doc: $doc,
            ..Member::BLANK
        }
    };
}

static MEMBERS: &[Member] = &[
    method!(
        "get",
        Both,
        "http:get(url, qs, headers, ...): a GET request; its response map"
    ),
    method!(
        "head",
        Both,
        "http:head(url, ...): a HEAD request; its response map"
    ),
    method!(
        "post",
        Action,
        "http:post(url, body|json|form, ...): a POST request"
    ),
    method!("put", Action, "http:put(url, ...): a PUT request"),
    method!("patch", Action, "http:patch(url, ...): a PATCH request"),
    method!("delete", Action, "http:delete(url, ...): a DELETE request"),
];

/// `http:<method>(url, options)`: the request through the host, then
/// `autoraise` (raise `http:<method>` with the response and a label).
fn request(cx: &mut dyn NativeCx, method: &str, a: &NativeArgs) -> Result<Value, RuntimeError> {
    let url = a.arg(0);
    let Value::Str(url) = url else {
        return Err(if url.is_null() {
            RuntimeError::new(format!("http:{method} needs a url string"))
        } else {
            RuntimeError::type_error(format!(
                "http:{method} was given {} instead of a url string",
                url.to_krl_string()
            ))
        });
    };
    let mut opts = a.named.clone();
    for (i, k) in PARAMS.iter().enumerate().skip(1) {
        if let Some(v) = a.args.get(i) {
            opts.insert(Arc::from(*k), v.clone());
        }
    }
    let pairs = |v: Option<&Value>| -> Vec<(String, String)> {
        match v {
            Some(Value::Map(m)) => m
                .iter()
                .flat_map(|(k, v)| match v {
                    Value::Array(a) => a
                        .iter()
                        .map(|x| (format!("{k}[]"), x.to_krl_string()))
                        .collect::<Vec<_>>(),
                    v => vec![(k.to_string(), v.to_krl_string())],
                })
                .collect(),
            _ => Vec::new(),
        }
    };
    let mut req = HttpRequest {
        method: method.to_ascii_uppercase(),
        url: url.to_string(),
        qs: pairs(opts.get("qs")),
        headers: pairs(opts.get("headers")),
        parse_json: opts.get("parseJSON").is_some_and(Value::truthy),
        dont_follow_redirect: opts.get("dontFollowRedirect").is_some_and(Value::truthy),
        ..Default::default()
    };
    if let Some(j) = opts.get("json").filter(|v| !v.is_null()) {
        req.body = Some((j.to_json().to_string(), Some("application/json")));
    } else if let Some(f) = opts.get("form").filter(|v| !v.is_null()) {
        let encoded = pairs(Some(f))
            .iter()
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        req.body = Some((encoded, Some("application/x-www-form-urlencoded")));
    } else if let Some(b) = opts.get("body").filter(|v| !v.is_null()) {
        req.body = Some((b.to_krl_string(), None));
    }
    if let Some(Value::Map(a)) = opts.get("auth") {
        let get = |k: &str| a.get(k).map(Value::to_krl_string).unwrap_or_default();
        req.auth = Some((get("username"), get("password")));
    }
    let response = match cx.host().http() {
        Some(h) => h.request(&req)?,
        None => {
            return Err(RuntimeError::new(format!(
                "not supported here: http:{} {}",
                method, req.url
            )))
        }
    };
    if let Some(label) = opts.get("autoraise").filter(|v| !v.is_null()) {
        let mut attrs = match &response {
            Value::Map(m) => (**m).clone(),
            _ => Map::default(),
        };
        attrs.insert(Arc::from("label"), label.clone());
        cx.raise("http", method, attrs)?;
    }
    Ok(response)
}

/// `application/x-www-form-urlencoded` encoding of one key or value.
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
