//! `ctx:` (the Pico Engine's context module): `ctx:event` sends an event to
//! a channel; the other members are known by name (so rulesets using them
//! register) and are "not supported" when run.

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
