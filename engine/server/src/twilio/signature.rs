//! `X-Twilio-Signature` (docs/spec/twilio.md 3): HMAC-SHA1, keyed by the auth
//! token, of the URL Twilio requested followed by the sorted form
//! parameters, base64-encoded; or, for other bodies, of the URL alone
//! with the body's SHA-256 in its `bodySHA256` query parameter. Uses:
//! hmac, sha1, sha2, base64, subtle. Names no other module of this crate.
//!
//! The URL is always the configured public URL plus the request's raw
//! path and query ([`request_url`]), never built from the `Host` header.
//! As the official validators do, the URL with the scheme's default port
//! added (when it has none) or removed (when it has it) passes too
//! ([`url_variants`]); a non-default port must be in the public URL.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use subtle::ConstantTimeEq as _;

/// The header Twilio signs its requests with.
pub const HEADER: &str = "x-twilio-signature";

/// The URL a request was signed for: the public base (without a trailing
/// `/`) followed by the raw request target (path and query exactly as
/// sent, `?` included).
pub fn request_url(public_url: &str, path_and_query: &str) -> String {
    format!("{}{path_and_query}", public_url.trim_end_matches('/'))
}

/// The string that is signed: the URL, then for each parameter name in
/// byte order the name followed by each of its distinct values in byte
/// order, with no separators.
pub fn signing_string(url: &str, params: &[(String, String)]) -> String {
    let mut sorted: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (k, v) in params {
        sorted.entry(k).or_default().insert(v);
    }
    let mut s = String::from(url);
    for (k, values) in sorted {
        for v in values {
            s.push_str(k);
            s.push_str(v);
        }
    }
    s
}

/// The signature of `url` with the form `params`: base64 of the
/// HMAC-SHA1 of [`signing_string`], keyed with `token`.
pub fn sign(token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut mac =
        Hmac::<Sha1>::new_from_slice(token.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(signing_string(url, params).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// `url` as given, plus the same URL with the scheme's default port
/// (`:443` for https, `:80` for http) added when it has no port, or
/// removed when it has exactly that port.
pub fn url_variants(url: &str) -> Vec<String> {
    let mut out = vec![url.to_string()];
    let Some(scheme_end) = url.find("://") else {
        return out;
    };
    let scheme = url[..scheme_end].to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => "443",
        "http" => "80",
        _ => return out,
    };
    let host_start = scheme_end + 3;
    let host_end = url[host_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| host_start + i);
    let authority = &url[host_start..host_end];
    // The port is after the last `:` that follows any `]` (IPv6).
    let after_bracket = authority.rfind(']').map_or(0, |i| i + 1);
    let port_colon = authority[after_bracket..]
        .rfind(':')
        .map(|i| after_bracket + i);
    let (host, port) = match port_colon {
        Some(i) => (&authority[..i], Some(&authority[i + 1..])),
        None => (authority, None),
    };
    let rest = &url[host_end..];
    let prefix = &url[..host_start];
    match port {
        None => out.push(format!("{prefix}{host}:{default_port}{rest}")),
        Some(p) if p == default_port => out.push(format!("{prefix}{host}{rest}")),
        Some(_) => {}
    }
    out
}

/// Does `signature` sign `url` (or a default-port variant of it) with the
/// form `params`? Every variant is computed and compared in constant time.
pub fn validate(token: &str, url: &str, params: &[(String, String)], signature: &str) -> bool {
    let mut ok = subtle::Choice::from(0);
    for variant in url_variants(url) {
        let expected = sign(token, &variant, params);
        ok |= expected.as_bytes().ct_eq(signature.as_bytes());
    }
    ok.into()
}

/// The value of query parameter `name` in `url` (decoded), if present.
fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or("");
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// A non-form body (JSON): `url`'s `bodySHA256` query parameter must be
/// the lowercase hex SHA-256 of `body`, and `signature` must sign `url`
/// with no parameters.
pub fn validate_body(token: &str, url: &str, body: &[u8], signature: &str) -> bool {
    let Some(claimed) = query_param(url, "bodySHA256") else {
        return false;
    };
    let actual = hex(&Sha256::digest(body));
    let hash_ok: bool = actual
        .as_bytes()
        .ct_eq(claimed.to_ascii_lowercase().as_bytes())
        .into();
    // Both checks run, whatever the first says.
    let sig_ok = validate(token, url, &[], signature);
    hash_ok && sig_ok
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Why a request was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// No `X-Twilio-Signature` header.
    #[error("missing X-Twilio-Signature")]
    Missing,
    /// The signature does not match (forged, wrong token, or signed for
    /// another URL).
    #[error("invalid X-Twilio-Signature")]
    Invalid,
    /// A body that the signature cannot cover: neither form-encoded nor
    /// hashed into the URL's `bodySHA256`.
    #[error("the request body is not covered by the signature (no bodySHA256 in the URL)")]
    UnsignedBody,
}

/// What [`check`] needs of a request.
#[derive(Clone, Copy, Debug)]
pub struct SignedRequest<'a> {
    /// The URL it was signed for ([`request_url`]).
    pub url: &'a str,
    /// The `X-Twilio-Signature` header, if any.
    pub signature: Option<&'a str>,
    /// Is the body `application/x-www-form-urlencoded`?
    pub form: bool,
    /// The raw body.
    pub body: &'a [u8],
}

/// Checks a request's signature with `token` (docs/spec/twilio.md 3.1–3.3):
///
/// * the URL carries `bodySHA256`: the body's hash must match and the
///   signature covers the URL alone (3.2);
/// * an empty body (GET): the URL alone;
/// * a form body: the signature covers the URL and the body's parameters;
/// * any other body without `bodySHA256`: refused, since the signature
///   would not cover it.
pub fn check(token: &str, req: &SignedRequest) -> Result<(), Rejected> {
    let signature = req.signature.ok_or(Rejected::Missing)?.trim();
    let ok = if query_param(req.url, "bodySHA256").is_some() {
        validate_body(token, req.url, req.body, signature)
    } else if req.body.iter().all(u8::is_ascii_whitespace) {
        // No body (a GET): everything is in the URL. (A blank body is no
        // body for the event's attributes either.)
        validate(token, req.url, &[], signature)
    } else if req.form {
        let params: Vec<(String, String)> =
            serde_urlencoded::from_bytes(req.body).map_err(|_| Rejected::Invalid)?;
        validate(token, req.url, &params, signature)
    } else {
        return Err(Rejected::UnsignedBody);
    };
    if ok {
        Ok(())
    } else {
        Err(Rejected::Invalid)
    }
}

#[cfg(test)]
mod tests;
