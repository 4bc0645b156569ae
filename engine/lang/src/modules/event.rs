//! `event:` (docs/spec/krl-language.md 5): the event being processed, and
//! `event:send` (an event to another channel).

use super::{Member, Module, NativeArgs, NativeCx};
use crate::eval::key_get;
use crate::runtime::{Map, RuntimeError, Value};

/// `event:`.
pub static MODULE: Module = Module {
    domain: "event",
    doc: "The event being processed; event:send sends one to a channel.",
    members: MEMBERS,
    ..Module::BLANK
};

static MEMBERS: &[Member] = &[
    Member {
        doc: "event:attrs: the event's attributes (a map)",
        ..Member::native("attrs", &[], attrs)
    },
    Member {
        doc: "classic event:attrs_: the event's attributes",
        ..Member::native("attrs_", &[], attrs)
    },
    Member {
        doc: "classic event:params(): the event's attributes",
        ..Member::native("params", &[], attrs)
    },
    Member {
        doc: "classic event:attr(name): one attribute, by exact name or else case-insensitively",
        bare: Some(attrs),
        ..Member::native("attr", &["name"], attr)
    },
    Member {
        doc: "classic event:param(name): as event:attr(name)",
        bare: Some(attrs),
        ..Member::native("param", &["name"], attr)
    },
    Member {
        doc: "event:domain: the event's domain",
        ..Member::native("domain", &[], |cx, _| {
            Ok(cx.event().map_or(Value::Null, |e| Value::from(e.domain.as_str())))
        })
    },
    Member {
        doc: "event:name: the event's type",
        ..Member::native("name", &[], name)
    },
    Member {
        doc: "classic event:type(): the event's type",
        ..Member::native("type", &[], name)
    },
    Member {
        doc: "event:eci: the channel the event came in on",
        ..Member::native("eci", &[], |cx, _| {
            Ok(cx.event().map_or(Value::Null, |e| Value::from(e.eci.as_str())))
        })
    },
    Member {
        doc: "event:eid: the event's id",
        ..Member::native("eid", &[], |cx, _| {
            Ok(cx.event().map_or(Value::Null, |e| Value::from(e.eid.as_str())))
        })
    },
    Member {
        doc: "event:time: when the event was accepted, ms since the epoch",
        ..Member::native("time", &[], |cx, _| {
            Ok(cx.event().map_or(Value::Null, |e| Value::number(e.time_ms)))
        })
    },
    Member {
        doc: "event:send({eci, domain, name (or type), attrs}, host): sends an event to a channel (of another engine with host), not waited for",
        ..Member::action("send", &["options", "host"], |cx, a| {
            let o = a.arg(0);
            let name = match key_get(&o, "name") {
                Value::Null => key_get(&o, "type"),
                n => n,
            };
            send(
                cx,
                key_get(&o, "eci"),
                key_get(&o, "domain"),
                name,
                key_get(&o, "attrs"),
                a.arg(1),
            )
        })
    },
];

pub(crate) fn attrs(cx: &mut dyn NativeCx, _: &NativeArgs) -> Result<Value, RuntimeError> {
    Ok(cx
        .event()
        .map_or(Value::Null, |e| Value::from(e.attrs.clone())))
}

fn name(cx: &mut dyn NativeCx, _: &NativeArgs) -> Result<Value, RuntimeError> {
    Ok(cx
        .event()
        .map_or(Value::Null, |e| Value::from(e.name.as_str())))
}

/// An attribute by exact name, else (classic,
/// docs/spec/krl-language.md 10.7) case-insensitively.
pub(crate) fn attr(cx: &mut dyn NativeCx, a: &NativeArgs) -> Result<Value, RuntimeError> {
    let name = a.args.first().map(Value::to_krl_string).unwrap_or_default();
    Ok(match cx.event() {
        None => Value::Null,
        Some(e) => e.attrs.get(name.as_str()).cloned().unwrap_or_else(|| {
            e.attrs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(&name))
                .map(|(_, v)| v.clone())
                .unwrap_or(Value::Null)
        }),
    })
}

/// Sends an event to a channel through the host (`event:send`,
/// `ctx:event`): the new event's id.
pub(crate) fn send(
    cx: &mut dyn NativeCx,
    eci: Value,
    domain: Value,
    name: Value,
    attrs: Value,
    host: Value,
) -> Result<Value, RuntimeError> {
    let Value::Str(eci) = eci else {
        return Err(RuntimeError::type_error(format!(
            "{} is not a valid eci",
            eci.to_krl_string()
        )));
    };
    let attrs = match attrs {
        Value::Map(m) => (*m).clone(),
        _ => Map::default(),
    };
    if let Value::Str(host) = host {
        let (domain, name) = (domain.to_krl_string(), name.to_krl_string());
        let ctx = cx.host().ctx().ok_or_else(|| {
            RuntimeError::new("not supported here: events to another engine (host)")
        })?;
        ctx.send_remote(&host, &eci, &domain, &name, attrs)?;
        return Ok(Value::Null);
    }
    let eid = cx
        .host()
        .send_event(&eci, &domain.to_krl_string(), &name.to_krl_string(), attrs)?;
    Ok(Value::from(eid))
}
