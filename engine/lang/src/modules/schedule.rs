//! `schedule:` (docs/spec/krl-language.md 9.7): the ruleset's scheduled
//! events on this pico.

use super::{Member, Module};
use crate::runtime::Value;

/// `schedule:`.
pub static MODULE: Module = Module {
    domain: "schedule",
    doc: "The ruleset's scheduled events on this pico.",
    members: MEMBERS,
    ..Module::BLANK
};

static MEMBERS: &[Member] = &[
    Member {
        doc: "schedule:list(): this ruleset's schedule entries, in creation order",
        ..Member::native("list", &[], |cx, _| {
            let rid = cx.rid();
            Ok(Value::from(cx.host().schedule_list(&rid)?))
        })
    },
    Member {
        doc: "schedule:remove(id): removes one schedule entry",
        ..Member::action("remove", &["id"], |cx, a| {
            let rid = cx.rid();
            let id = a.arg(0).to_krl_string();
            cx.host().schedule_remove(&rid, Some(&id))?;
            Ok(Value::Null)
        })
    },
    Member {
        doc: "schedule:clear(): removes every schedule entry of this ruleset",
        ..Member::action("clear", &[], |cx, _| {
            let rid = cx.rid();
            cx.host().schedule_remove(&rid, None)?;
            Ok(Value::Null)
        })
    },
];
