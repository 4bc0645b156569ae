//! `meta:` (docs/spec/krl-stdlib.md 8.1): the ruleset, pico and evaluation
//! running, and the engine's public base URL (`meta:host`).

use super::{Member, Module, NativeArgs, NativeCx};
use crate::runtime::{RuntimeError, Value};

/// `meta:`.
pub static MODULE: Module = Module {
    domain: "meta",
    doc: "The ruleset, pico and evaluation running.",
    members: MEMBERS,
    ..Module::BLANK
};

static MEMBERS: &[Member] = &[
    Member {
        doc: "meta:rid: the id of the ruleset running",
        ..Member::native("rid", &[], |cx, _| Ok(Value::from(&*cx.rid())))
    },
    Member {
        doc: "meta:picoId: the id of the pico",
        ..Member::native("picoId", &[], |cx, _| Ok(Value::from(&*cx.pico_id())))
    },
    Member {
        doc: "meta:eci: the channel of the event being processed",
        ..Member::native("eci", &[], |cx, _| {
            Ok(cx.event().map_or(Value::Null, |e| Value::from(e.eci.as_str())))
        })
    },
    Member {
        doc: "meta:txnId: the id of this evaluation",
        ..Member::native("txnId", &[], |cx, _| Ok(Value::from(&*cx.txn_id())))
    },
    Member {
        doc: "meta:ruleName: the rule running (null outside rules)",
        ..Member::native("ruleName", &[], |cx, _| {
            Ok(cx.rule_name().map_or(Value::Null, |r| Value::from(&*r)))
        })
    },
    Member {
        doc: "meta:inEvent: is this an event (not a query)?",
        ..Member::native("inEvent", &[], |cx, _| Ok(Value::Bool(!cx.in_query())))
    },
    Member {
        doc: "meta:inQuery: is this a query?",
        ..Member::native("inQuery", &[], |cx, _| Ok(Value::Bool(cx.in_query())))
    },
    Member {
        doc: "meta:rulesetConfig: the configuration the ruleset was installed with",
        ..Member::native("rulesetConfig", &[], |cx, _| Ok(cx.config()))
    },
    Member {
        doc: "meta:rulesetName: the ruleset's meta name",
        ..Member::native("rulesetName", &[], |cx, _| Ok(cx.meta_string("name")))
    },
    Member {
        doc: "meta:rulesetDescription: the ruleset's meta description",
        ..Member::native("rulesetDescription", &[], |cx, _| {
            Ok(cx.meta_string("description"))
        })
    },
    Member {
        doc: "meta:rulesetAuthor: the ruleset's meta author",
        ..Member::native("rulesetAuthor", &[], |cx, _| Ok(cx.meta_string("author")))
    },
    Member {
        doc: "meta:rid_url: the URL the running ruleset was installed from on this pico",
        ..Member::native("rid_url", &[], rid_url)
    },
    Member {
        doc: "meta:rulesetURI: the URL the running ruleset was installed from on this pico (as meta:rid_url)",
        ..Member::native("rulesetURI", &[], rid_url)
    },
    Member {
        doc: "meta:host: the engine's public base URL (e.g. https://krl.example.com), null when it has none",
        ..Member::native("host", &[], host)
    },
];

fn host(cx: &mut dyn NativeCx, _: &NativeArgs) -> Result<Value, RuntimeError> {
    Ok(cx
        .host()
        .base_url()
        .map_or(Value::Null, |u| Value::from(u.trim_end_matches('/'))))
}

fn rid_url(cx: &mut dyn NativeCx, _: &NativeArgs) -> Result<Value, RuntimeError> {
    let rid = cx.rid();
    match cx.host().ctx() {
        Some(ctx) => ctx.rid_url(&rid),
        None => Ok(Value::Null),
    }
}
