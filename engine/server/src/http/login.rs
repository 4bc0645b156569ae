//! The admin token by cookie, for browsers (the console at `/ui/`):
//!
//! * `GET /login[?next=/path]`: a form asking for the admin token;
//! * `POST /login` (form `token`, `next`): checks the token as the
//!   bearer guard does (SHA-256 digests compared in constant time), sets
//!   `krl_admin=<token>; HttpOnly; SameSite=Strict; Path=/` and redirects
//!   to `next` when it is a local path, else to `/ui/`; a wrong token is
//!   401 with the form and a message;
//! * `GET /logout`: clears the cookie, back to `/login`;
//! * `GET /`: a redirect to `/ui/`.
//!
//! [`admin_token`] reads a request's token (bearer first, then the
//! cookie) for `require_admin`; [`require_page`] guards the console's
//! pages, sending a browser without the cookie to the login page instead
//! of a 401. Uses: `http` (its state), axum, serde, serde_urlencoded,
//! sha2, subtle.

use super::AppState;
use axum::body::Bytes;
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

/// The cookie's name.
pub(super) const COOKIE: &str = "krl_admin";

/// Where a login goes when `next` is missing or not a local path.
const HOME: &str = "/ui/";

/// The login routes and `/` (a redirect to the console, unless
/// `--pico-engine` serves the Pico Engine's UI there).
pub(super) fn router(state: AppState) -> Router {
    let home = if state.engine.settings().pico_engine.is_some() {
        Router::new()
    } else {
        Router::new().route("/", get(|| async { Redirect::to(HOME) }))
    };
    home.route("/login", get(form).post(login))
        .route("/logout", get(logout))
        .with_state(state)
}

/// The admin token a request carries: `Authorization: Bearer <token>`,
/// else the `krl_admin` cookie.
pub(super) fn admin_token(headers: &HeaderMap) -> Option<String> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string());
    bearer.or_else(|| cookie(headers, COOKIE).map(|v| percent_decode(&v)))
}

/// Whether `token` is the admin token: its SHA-256 against the admin
/// token's, in constant time (neither the bytes nor the length leak).
pub(super) fn token_ok(st: &AppState, token: &str) -> bool {
    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    bool::from(digest.ct_eq(&st.token_hash))
}

/// The console pages' guard: without a good token a browser is sent to
/// `/login?next=<this page>`.
pub(super) async fn require_page(State(st): State<AppState>, req: Request, next: Next) -> Response {
    if admin_token(req.headers()).is_some_and(|t| token_ok(&st, &t)) {
        return next.run(req).await;
    }
    let here = req
        .uri()
        .path_and_query()
        .map_or(HOME.to_string(), |p| p.as_str().to_string());
    Redirect::to(&format!("/login?next={}", percent_encode(&here))).into_response()
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| k.trim() == name)
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
}

/// `next` when it is a path on this server (`/...`, not `//host` or
/// `/\host`, which browsers read as another host), else the console.
fn local_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && !n.chars().any(|c| c.is_control()) =>
        {
            n.to_string()
        }
        _ => HOME.to_string(),
    }
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// `GET /login`.
async fn form(Query(q): Query<NextQuery>) -> Html<String> {
    Html(page(&local_next(q.next.as_deref()), None))
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    token: String,
    next: Option<String>,
}

/// `POST /login`.
async fn login(State(st): State<AppState>, body: Bytes) -> Response {
    let form: LoginForm = match serde_urlencoded::from_bytes(&body) {
        Ok(f) => f,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Html(page(HOME, Some(&format!("unreadable form: {e}")))),
            )
                .into_response()
        }
    };
    let next = local_next(form.next.as_deref());
    let token = form.token.trim();
    if token.is_empty() || !token_ok(&st, token) {
        let why = if token.is_empty() {
            "Give the admin token (krl serve --admin-token, or the admin_token line it printed)."
        } else {
            "Wrong admin token."
        };
        return (StatusCode::UNAUTHORIZED, Html(page(&next, Some(why)))).into_response();
    }
    let cookie = format!(
        "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/",
        percent_encode(token)
    );
    let mut res = Redirect::to(&next).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

/// `GET /logout`: the cookie cleared.
async fn logout() -> Response {
    let mut res = Redirect::to("/login").into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("krl_admin=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    res
}

/// The login page.
fn page(next: &str, error: Option<&str>) -> String {
    let error = error.map_or(String::new(), |e| {
        format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e))
    });
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>krl: log in</title>
<style>
body {{ font: 16px system-ui, sans-serif; background: #f4f5f7; color: #1d2330; display: flex;
       min-height: 100vh; align-items: center; justify-content: center; margin: 0; }}
form {{ background: #fff; padding: 2rem; border-radius: 8px; box-shadow: 0 1px 4px #0002;
       width: min(24rem, 90vw); }}
h1 {{ font-size: 1.3rem; margin-top: 0; }}
label {{ display: block; margin-bottom: .4rem; }}
input[type=password] {{ width: 100%; box-sizing: border-box; padding: .5rem; font: inherit; }}
button {{ margin-top: 1rem; padding: .5rem 1.2rem; font: inherit; background: #2b5fd9;
         color: #fff; border: 0; border-radius: 4px; cursor: pointer; }}
.error {{ color: #b00020; }}
</style>
</head>
<body>
<form method="post" action="/login">
<h1>krl console</h1>
{error}
<label for="token">Admin token</label>
<input type="password" id="token" name="token" autofocus autocomplete="current-password">
<input type="hidden" name="next" value="{next}">
<button type="submit" id="login">Log in</button>
</form>
</body>
</html>
"#,
        next = escape(next)
    )
}

/// Text for HTML (content and attribute values).
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Percent-encodes everything but unreserved characters and `/`.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Undoes [`percent_encode`] (and any `%XX`); bad escapes stay as they are.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && bytes[i + 1].is_ascii_hexdigit()
            && bytes[i + 2].is_ascii_hexdigit()
        {
            let hex = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
            out.push(hex(bytes[i + 1]) * 16 + hex(bytes[i + 2]));
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_must_be_a_local_path() {
        assert_eq!(local_next(Some("/ui/#picos")), "/ui/#picos");
        assert_eq!(local_next(Some("//evil.example/")), HOME);
        assert_eq!(local_next(Some("/\\evil.example/")), HOME);
        assert_eq!(local_next(Some("https://evil.example/")), HOME);
        assert_eq!(local_next(None), HOME);
    }

    #[test]
    fn cookies_are_read_and_tokens_round_trip() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; krl_admin=t%3Bx%20y; b=2"),
        );
        assert_eq!(admin_token(&h).as_deref(), Some("t;x y"));
        assert_eq!(percent_decode(&percent_encode("a b;c%")), "a b;c%");
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer tok"),
        );
        assert_eq!(admin_token(&h).as_deref(), Some("tok"));
    }
}
