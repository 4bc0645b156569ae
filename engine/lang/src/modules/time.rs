//! `time:` (docs/spec/krl-stdlib.md 8.3): the registry entry; the date and
//! time implementation (parsing, zones, formatting, arithmetic) is
//! [`crate::runtime::time`], which `schedule ... at` uses too.

use super::{Kind, Member, Module};
use crate::runtime::time;

/// `time:`.
pub static MODULE: Module = Module {
    domain: "time",
    doc: "Dates and times: now, parsing, arithmetic, formatting, time zones.",
    members: MEMBERS,
    ..Module::BLANK
};

/// The members of `time:`.
static MEMBERS: &[Member] = &[
    Member {
        name: "add",
        params: &["date", "spec"],
        kind: Kind::Function(time::add),
        ..Member::BLANK
    },
    Member {
        name: "local",
        params: &["date", "tz"],
        kind: Kind::Function(time::local),
        ..Member::BLANK
    },
    Member {
        name: "new",
        params: &["date"],
        kind: Kind::Function(time::new),
        ..Member::BLANK
    },
    Member {
        name: "now",
        params: &["opts"],
        kind: Kind::Function(time::now),
        ..Member::BLANK
    },
    Member {
        name: "strftime",
        params: &["date", "fmt", "opts"],
        kind: Kind::Function(time::strftime),
        ..Member::BLANK
    },
    Member {
        name: "zone",
        params: &["name"],
        kind: Kind::Function(time::zone),
        ..Member::BLANK
    },
];
