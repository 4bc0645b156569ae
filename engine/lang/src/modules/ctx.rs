//! `ctx:` (the Pico Engine's context module): the ruleset and pico
//! running (`ctx:rid`, `ctx:picoId`, `ctx:rid_url`, `ctx:rid_config`,
//! `ctx:rid_version`, ...), the pico's channels, family and installed
//! rulesets, and synchronous calls to other picos. What needs the engine
//! goes through the host's [`CtxHost`](crate::host::CtxHost); changes of
//! the installed rulesets go to the runtime ([`PicoChange`]), which makes
//! them after the rule and takes them back if the event fails.

use super::{Member, Module, NativeArgs, NativeCx};
use crate::host::CtxHost;
use crate::native::PicoChange;
use crate::runtime::{Map, RuntimeError, Value};

/// `ctx:`.
pub static MODULE: Module = Module {
    domain: "ctx",
    doc: "The pico's context: its ruleset, channels, family and installed rulesets, and calls to other picos.",
    members: MEMBERS,
    ..Module::BLANK
};

/// The host's `ctx:` side, or "not supported here".
fn ctx<'a>(cx: &'a mut dyn NativeCx, a: &NativeArgs) -> Result<&'a mut dyn CtxHost, RuntimeError> {
    let name = a.name.to_string();
    cx.host()
        .ctx()
        .ok_or_else(|| RuntimeError::new(format!("not supported here: ctx:{name}")))
}

/// A string argument, or the Pico Engine's type error.
fn string(v: Value, what: &str) -> Result<String, RuntimeError> {
    match v {
        Value::Str(s) => Ok(s.to_string()),
        other => Err(RuntimeError::type_error(format!(
            "Expected string for {what} but got {}",
            other.type_name()
        ))),
    }
}

/// A map argument (null: empty).
fn map(v: Value, what: &str) -> Result<Map, RuntimeError> {
    match v {
        Value::Map(m) => Ok((*m).clone()),
        Value::Null => Ok(Map::default()),
        other => Err(RuntimeError::type_error(format!(
            "Expected map for {what} but got {}",
            other.type_name()
        ))),
    }
}

static MEMBERS: &[Member] = &[
    Member {
        doc: "ctx:rid: the id of the ruleset running",
        ..Member::native("rid", &[], |cx, _| Ok(Value::from(&*cx.rid())))
    },
    Member {
        doc: "ctx:picoId: the id of the pico",
        ..Member::native("picoId", &[], |cx, _| Ok(Value::from(&*cx.pico_id())))
    },
    Member {
        doc: "ctx:rid_url: the URL the running ruleset was installed from on this pico",
        ..Member::native("rid_url", &[], |cx, a| {
            let rid = cx.rid();
            ctx(cx, a)?.rid_url(&rid)
        })
    },
    Member {
        doc: "ctx:rid_config: the configuration the ruleset was installed with",
        ..Member::native("rid_config", &[], |cx, _| Ok(cx.config()))
    },
    Member {
        doc: "ctx:rid_version: the ruleset's meta version, or null",
        ..Member::native("rid_version", &[], |cx, _| Ok(cx.meta_string("version")))
    },
    Member {
        doc: "ctx:rid_name: the ruleset's meta name, or null",
        ..Member::native("rid_name", &[], |cx, _| Ok(cx.meta_string("name")))
    },
    Member {
        doc: "ctx:rid_description: the ruleset's meta description, or null",
        ..Member::native("rid_description", &[], |cx, _| Ok(cx.meta_string("description")))
    },
    Member {
        doc: "ctx:rid_author: the ruleset's meta author, or null",
        ..Member::native("rid_author", &[], |cx, _| Ok(cx.meta_string("author")))
    },
    Member {
        doc: "ctx:channels: the pico's channels [{id, tags, eventPolicy, queryPolicy, familyChannelPicoID}]",
        ..Member::native("channels", &[], |cx, a| ctx(cx, a)?.channels())
    },
    Member {
        doc: "ctx:parent: the family channel to the pico's parent (null for the root)",
        ..Member::native("parent", &[], |cx, a| ctx(cx, a)?.parent())
    },
    Member {
        doc: "ctx:children: the family channels to the pico's children",
        ..Member::native("children", &[], |cx, a| ctx(cx, a)?.children())
    },
    Member {
        doc: "ctx:rulesets: the installed rulesets [{rid, url, config, meta}]",
        ..Member::native("rulesets", &[], |cx, a| ctx(cx, a)?.rulesets())
    },
    Member {
        doc: "ctx:query(eci, rid, name, args): calls a shared function of another pico, as this pico, and waits for its value",
        ..Member::native("query", &["eci", "rid", "name", "args"], |cx, a| {
            let eci = string(a.arg(0), "eci")?;
            let rid = string(a.arg(1), "rid")?;
            let name = string(a.arg(2), "name")?;
            let args = map(a.arg(3), "args")?;
            ctx(cx, a)?.query(&eci, &rid, &name, &args)
        })
    },
    Member {
        doc: "ctx:logs(): the pico's recent log entries",
        ..Member::native("logs", &[], |cx, a| ctx(cx, a)?.logs())
    },
    Member {
        doc: "ctx:event(eci, domain, name, attrs, host): sends an event to a channel (of another engine with host), not waited for",
        ..Member::action("event", &["eci", "domain", "name", "attrs", "host"], |cx, a| {
            super::event::send(cx, a.arg(0), a.arg(1), a.arg(2), a.arg(3), a.arg(4))
        })
    },
    Member {
        doc: "ctx:eventQuery(eci, domain, name, attrs, rid, queryName, args): an event to another pico, then a query there, as this pico",
        ..Member::action(
            "eventQuery",
            &["eci", "domain", "name", "attrs", "rid", "queryName", "args"],
            |cx, a| {
                let eci = string(a.arg(0), "eci")?;
                let domain = a.arg(1).to_krl_string();
                let name = a.arg(2).to_krl_string();
                let attrs = map(a.arg(3), "attrs")?;
                let rid = string(a.arg(4), "rid")?;
                let query = string(a.arg(5), "queryName")?;
                let args = map(a.arg(6), "args")?;
                ctx(cx, a)?.event_query(&eci, &domain, &name, &attrs, &rid, &query, &args)
            },
        )
    },
    Member {
        doc: "ctx:raiseEvent(domain, name, attrs, forRid): raises an event on this pico (for one ruleset with forRid)",
        ..Member::action("raiseEvent", &["domain", "name", "attrs", "forRid"], |cx, a| {
            let domain = a.arg(0).to_krl_string();
            let name = a.arg(1).to_krl_string();
            let attrs = map(a.arg(2), "attrs")?;
            match a.arg(3) {
                Value::Null => cx.raise(&domain, &name, attrs)?,
                rid => cx.raise_for(&domain, &name, attrs, &rid.to_krl_string())?,
            }
            Ok(Value::Null)
        })
    },
    Member {
        doc: "ctx:newChannel(tags, eventPolicy, queryPolicy): makes a channel on this pico and answers it",
        ..Member::action("newChannel", &["tags", "eventPolicy", "queryPolicy"], |cx, a| {
            ctx(cx, a)?.new_channel(&a.arg(0), &a.arg(1), &a.arg(2))
        })
    },
    Member {
        doc: "ctx:putChannel(eci, tags, eventPolicy, queryPolicy): changes a channel of this pico",
        ..Member::action(
            "putChannel",
            &["eci", "tags", "eventPolicy", "queryPolicy"],
            |cx, a| {
                let eci = string(a.arg(0), "eci")?;
                ctx(cx, a)?.put_channel(&eci, &a.arg(1), &a.arg(2), &a.arg(3))
            },
        )
    },
    Member {
        doc: "ctx:upsertChannel(tags, eventPolicy, queryPolicy): changes the channel with these tags, or makes it",
        ..Member::action("upsertChannel", &["tags", "eventPolicy", "queryPolicy"], |cx, a| {
            ctx(cx, a)?.upsert_channel(&a.arg(0), &a.arg(1), &a.arg(2))
        })
    },
    Member {
        doc: "ctx:delChannel(eci): deletes a channel of this pico (not a family channel)",
        ..Member::action("delChannel", &["eci"], |cx, a| {
            let eci = string(a.arg(0), "eci")?;
            ctx(cx, a)?.del_channel(&eci)?;
            Ok(Value::Null)
        })
    },
    Member {
        doc: "ctx:newPico(rulesets): makes a child pico with rulesets [{url, config}] installed; answers its family channel",
        ..Member::action("newPico", &["rulesets"], |cx, a| {
            let rulesets = match a.arg(0) {
                Value::Null => Value::Array(std::sync::Arc::new(Vec::new())),
                v @ Value::Array(_) => v,
                _ => {
                    return Err(RuntimeError::type_error(
                        "ctx:newPico expects an array of {url, config}",
                    ))
                }
            };
            ctx(cx, a)?.new_pico(&rulesets)
        })
    },
    Member {
        doc: "ctx:delPico(eci): deletes the child behind a family channel, with its subtree",
        ..Member::action("delPico", &["eci"], |cx, a| {
            let eci = string(a.arg(0), "eci")?;
            ctx(cx, a)?.del_pico(&eci)?;
            Ok(Value::Null)
        })
    },
    Member {
        doc: "ctx:flush(url): registers the ruleset at url again (file:// or http(s)://); answers its rid",
        ..Member::action("flush", &["url"], |cx, a| {
            let url = string(a.arg(0), "url")?;
            Ok(Value::from(ctx(cx, a)?.flush(&url)?))
        })
    },
    Member {
        doc: "ctx:install(url, config): installs the ruleset at url on this pico (registered first if need be); answers its rid",
        ..Member::action("install", &["url", "config"], |cx, a| {
            let url = string(a.arg(0), "url")?;
            let config = match a.arg(1) {
                Value::Null => Value::from(Map::default()),
                c => c,
            };
            let rid = ctx(cx, a)?.load(&url)?;
            cx.change(
                PicoChange::Install {
                    rid: rid.clone(),
                    config,
                    url: Some(url),
                },
                a.span,
            );
            Ok(Value::from(rid))
        })
    },
    Member {
        doc: "ctx:uninstall(rid): uninstalls a ruleset from this pico (refused while another installed ruleset uses it)",
        ..Member::action("uninstall", &["rid"], |cx, a| {
            let rid = string(a.arg(0), "rid")?;
            cx.change(PicoChange::Uninstall { rid }, a.span);
            Ok(Value::Null)
        })
    },
];
