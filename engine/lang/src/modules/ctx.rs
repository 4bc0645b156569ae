//! `ctx:` (the Pico Engine's context module): the ruleset and pico running
//! (`ctx:rid`, `ctx:picoId`, `ctx:rid_config`, `ctx:rid_version`,
//! `ctx:rid_name`, `ctx:rid_description`, `ctx:rid_author`), and
//! `ctx:event`, which sends an event to a channel; the other members are
//! known by name (so rulesets using them register) and are "not
//! supported" when run.

use super::{not_supported, Member, Module};

/// `ctx:`.
pub static MODULE: Module = Module {
    domain: "ctx",
    doc: "The pico's context: events to channels (other members are not supported yet).",
    members: MEMBERS,
    ..Module::BLANK
};

macro_rules! unsupported_actions {
    ($($name:literal),*) => {
        &[
            Member {
                doc: "ctx:event(eci, domain, name, attrs): sends an event to a channel, not waited for",
                ..Member::action("event", &["eci", "domain", "name", "attrs"], |cx, a| {
                    super::event::send(cx, a.arg(0), a.arg(1), a.arg(2), a.arg(3))
                })
            },
            Member {
                doc: "ctx:rid: the id of the ruleset running",
                ..Member::native("rid", &[], |cx, _| Ok(crate::runtime::Value::from(&*cx.rid())))
            },
            Member {
                doc: "ctx:picoId: the id of the pico",
                ..Member::native("picoId", &[], |cx, _| Ok(crate::runtime::Value::from(&*cx.pico_id())))
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
            $(Member {
                doc: "not supported by this engine yet",
                ..Member::action($name, &[], |_, a| Err(not_supported("ctx", a.name)))
            }),*
        ]
    };
}

static MEMBERS: &[Member] = unsupported_actions!(
    "eventQuery",
    "newPico",
    "delPico",
    "newChannel",
    "putChannel",
    "upsertChannel",
    "delChannel",
    "install",
    "uninstall",
    "flush"
);
