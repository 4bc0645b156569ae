//! `twilio:` (docs/spec/krl-language.md 10.9, docs/twilio.md): the TwiML
//! verb actions, which record directives the reply writer turns into one
//! `<Response>` ([`reply`]); the REST actions (`send_sms`, `call`,
//! `redirect_call`) through the host's durable outbox; `url_for` (a static
//! file's fingerprinted URL); the end of a call's session after its last
//! status callback. The classic Kynetx library `a8x115` names this module.
//!
//! * [`attrs`] — the verbs table and the values each attribute accepts.
//! * [`xml`] — well-formedness of raw XML.
//! * [`reply`] — the TwiML writer.

pub mod attrs;
pub mod reply;
pub mod xml;

use super::{Kind, Member, Module, NativeArgs, NativeCx, Unknown};
use crate::eval::key_get;
use crate::host::{Directive, Event, Host, TwilioRequest, DIRECTIVE_ARG};
use crate::native::CheckCall;
use crate::runtime::{Map, RuntimeError, Value};
use crate::syntax::ast::Span;
use std::sync::{Arc, OnceLock};

/// The module's domain; directives of its verbs carry it.
pub const DOMAIN: &str = "twilio";

/// The classic Kynetx Twilio library's rid (docs/spec/krl-language.md
/// 10.9.1).
pub const CLASSIC_RID: &str = "a8x115";

/// The REST actions, in the order the documentation lists them.
const REST: &[(&str, &[&str], &str)] = &[
    (
        "send_sms",
        &["to", "from", "body", "media"],
        "twilio:send_sms(to, from, body, media): sends an SMS/MMS through the outbox",
    ),
    (
        "place_call",
        &["to", "from", "url"],
        "twilio:place_call(to, from, url): places a call through the outbox",
    ),
    (
        "call",
        &["to", "from", "url"],
        "twilio:call(to, from, url): places a call through the outbox",
    ),
    (
        "redirect_call",
        &["call_sid", "url"],
        "twilio:redirect_call(call_sid, url): moves a live call to new TwiML",
    ),
];

/// The `twilio:` module (built once from the verbs table).
pub fn module() -> &'static Module {
    static MODULE: OnceLock<Module> = OnceLock::new();
    MODULE.get_or_init(|| {
        let mut members: Vec<Member> = attrs::VERBS
            .iter()
            .map(|v| Member {
                name: v.action,
                kind: Kind::Action(verb),
                check: Some(check_verb),
                doc: "a TwiML verb (docs/twilio.md)",
                ..Member::BLANK
            })
            .collect();
        for (name, params, doc) in REST {
            members.push(Member {
                doc,
                ..Member::action(name, params, rest)
            });
        }
        members.push(Member {
            doc: "twilio:url_for(path): the absolute, fingerprinted URL of a static file",
            ..Member::native("url_for", &["path"], url_for)
        });
        Module {
            domain: DOMAIN,
            doc: "Twilio: TwiML verbs, SMS and calls through the REST API, static files' URLs.",
            members: Box::leak(members.into_boxed_slice()),
            unknown: Unknown::Refused,
            classic_rids: &[CLASSIC_RID],
            after_event: Some(end_call_session),
            ..Module::BLANK
        }
    })
}

/// A verb action: every attribute is one the verb takes, with a value it
/// accepts (literals were checked at registration); records a directive.
fn verb(cx: &mut dyn NativeCx, a: &NativeArgs) -> Result<Value, RuntimeError> {
    let name = a.name;
    for (k, v) in a.named.iter() {
        attrs::check(name, k, v).map_err(RuntimeError::new)?;
    }
    if name == "pause" {
        if let Some(v) = a.args.first() {
            attrs::check(name, "length", v).map_err(RuntimeError::new)?;
        }
    }
    // options: the attributes (nulls dropped) and the positional argument
    let mut options = Map::default();
    if let Some(v) = a.args.first().filter(|v| !v.is_null()) {
        options.insert(Arc::from(DIRECTIVE_ARG), v.clone());
    }
    for (k, v) in a.named.iter().filter(|(_, v)| !v.is_null()) {
        options.insert(k.clone(), v.clone());
    }
    let d = Directive {
        name: Arc::from(attrs::canonical(name)),
        options: Value::from(options),
        rid: cx.rid(),
        rule_name: cx.rule_name().unwrap_or_else(|| Arc::from("")),
        txn_id: cx.txn_id(),
        module: Some(DOMAIN),
        line_col: Some(cx.line_col(a.span)),
    };
    cx.directive(d);
    Ok(Value::Null)
}

/// Registration checks of a verb: every named argument or `with` modifier
/// is an attribute of that verb and a literal value is one it accepts;
/// literal raw XML is well-formed; `pause(length)`'s positional argument
/// is its `length`.
fn check_verb(call: &CheckCall) -> Vec<(Span, String)> {
    let verb = call.member.name;
    let mut problems = Vec::new();
    for (n, name_span, value_span, value) in &call.named {
        if attrs::kind(verb, n).is_none() {
            problems.push((*name_span, attrs::unknown(verb, n)));
        } else if let Some(v) = value {
            if let Err(e) = attrs::check(verb, n, v) {
                problems.push((*value_span, e));
            }
        }
    }
    let first = call.positional.first();
    if attrs::canonical(verb) == "raw_response" {
        if let Some((span, Some(Value::Str(x)))) = first {
            if let Err(e) = xml::check_raw(x) {
                problems.push((*span, format!("`twilio:{verb}` needs well-formed XML: {e}")));
            }
        }
    }
    if verb == "pause" {
        if let Some((span, Some(v))) = first {
            if let Err(e) = attrs::check(verb, "length", v) {
                problems.push((*span, e));
            }
        }
    }
    problems
}

/// `send_sms`, `call`/`place_call`, `redirect_call`: a request for the
/// host's outbox.
fn rest(cx: &mut dyn NativeCx, a: &NativeArgs) -> Result<Value, RuntimeError> {
    let text = |v: Value| (!v.is_null()).then(|| v.to_krl_string());
    let mut params: Vec<(String, String)> = Vec::new();
    let mut call_sid = None;
    let action = match a.name {
        "send_sms" => {
            for (k, v) in [("To", a.arg(0)), ("From", a.arg(1)), ("Body", a.arg(2))] {
                params.extend(text(v).map(|t| (k.to_string(), t)));
            }
            match a.arg(3) {
                Value::Array(urls) => params.extend(
                    urls.iter()
                        .map(|u| ("MediaUrl".to_string(), u.to_krl_string())),
                ),
                v => params.extend(text(v).map(|t| ("MediaUrl".to_string(), t))),
            }
            "send_sms"
        }
        "call" | "place_call" => {
            for (k, v) in [("To", a.arg(0)), ("From", a.arg(1)), ("Url", a.arg(2))] {
                params.extend(text(v).map(|t| (k.to_string(), t)));
            }
            "call"
        }
        _ => {
            call_sid = text(a.arg(0));
            params.extend(text(a.arg(1)).map(|t| ("Url".to_string(), t)));
            "redirect_call"
        }
    };
    // other named options pass through (`statusCallback`, ...)
    let known = ["to", "from", "body", "media", "url", "call_sid"];
    for (k, v) in a.named.iter() {
        if !known.contains(&&**k) && !v.is_null() {
            params.push((k.to_string(), v.to_krl_string()));
        }
    }
    let req = TwilioRequest {
        action: action.to_string(),
        params,
        call_sid,
        credentials: credentials(cx),
        eci: cx.event().map_or(String::new(), |e| e.eci.clone()),
        rid: cx.rid().to_string(),
        rule: cx.rule_name().map(|r| r.to_string()),
    };
    match cx.host().twilio() {
        Some(t) => t.twilio_rest(&req),
        None => Err(RuntimeError::new(format!(
            "not supported here: twilio:{}",
            req.action
        ))),
    }
}

/// Twilio credentials in order (docs/spec/krl-language.md 10.9.1):
/// `twiliokeys` of a classic `use module a8x115 ... with`, the ruleset's
/// `twilio` key, the install config's `account_sid`/`auth_token`; `None`
/// leaves it to the engine's own configuration.
fn credentials(cx: &dyn NativeCx) -> Option<(String, String)> {
    let pair = |m: &Value| {
        let sid = key_get(m, "account_sid");
        let token = key_get(m, "auth_token");
        (!sid.is_null() && !token.is_null()).then(|| (sid.to_krl_string(), token.to_krl_string()))
    };
    cx.module_config(DOMAIN)
        .and_then(|m| m.get("twiliokeys"))
        .and_then(pair)
        .or_else(|| cx.keys().get("twilio").and_then(pair))
        .or_else(|| pair(&cx.config()))
}

/// `twilio:url_for(path)`.
fn url_for(cx: &mut dyn NativeCx, a: &NativeArgs) -> Result<Value, RuntimeError> {
    let path = match a.args.first() {
        Some(Value::Str(s)) => s.to_string(),
        Some(v) if !v.is_null() => v.to_krl_string(),
        _ => return Err(RuntimeError::new("twilio:url_for needs a file path")),
    };
    match cx.host().twilio() {
        Some(t) => t.static_url(&path),
        None => Err(RuntimeError::new(format!(
            "not supported here: twilio:url_for({path:?}) (no static files)"
        ))),
    }
}

/// The call whose session ends with this event: a `twilio` event whose
/// `CallStatus` is `completed` (Twilio's last status callback of a call).
pub fn ended_call(event: &Event) -> Option<&str> {
    if event.domain != DOMAIN {
        return None;
    }
    match (event.attrs.get("CallStatus"), event.attrs.get("CallSid")) {
        (Some(Value::Str(status)), Some(Value::Str(sid)))
            if &**status == "completed" && !sid.is_empty() =>
        {
            Some(sid)
        }
        _ => None,
    }
}

/// After an event: a call that Twilio reports completed loses its session,
/// after the rules of this (its last) event saw it.
fn end_call_session(event: &Event, host: &mut dyn Host) -> Result<(), RuntimeError> {
    let Some(call) = ended_call(event) else {
        return Ok(());
    };
    match host.twilio() {
        Some(t) => t
            .session_end(call)
            .map_err(|e| RuntimeError::new(format!("cannot end the call session of {call}: {e}"))),
        None => Ok(()),
    }
}
