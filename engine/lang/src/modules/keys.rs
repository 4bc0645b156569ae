//! `keys:NAME` (classic, docs/spec/krl-language.md 10.2): the ruleset's
//! `key` declarations, optionally with a sub-key (`keys:twilio("sid")`).

use super::{Member, Module, Unknown};
use crate::eval::path_get;
use crate::runtime::RuntimeError;

/// `keys:`.
pub static MODULE: Module = Module {
    domain: "keys",
    doc: "The ruleset's classic key declarations.",
    unknown: Unknown::Open,
    open: Some(&KEY),
    ..Module::BLANK
};

static KEY: Member = Member {
    doc: "keys:NAME or keys:NAME(sub): a key declared in meta",
    ..Member::native("", &["sub"], |cx, a| {
        let v = cx
            .keys()
            .get(a.name)
            .cloned()
            .ok_or_else(|| RuntimeError::new(format!("keys:{} not defined", a.name)))?;
        Ok(match a.args.first() {
            Some(sub) => path_get(&v, sub),
            None => v,
        })
    })
};
