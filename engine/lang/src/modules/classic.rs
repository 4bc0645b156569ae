//! Domains known by name only: the classic `page:` and `engine:` (whose
//! `page:param(name)` is the event attribute), and modules this engine does
//! not implement (`stdlib:`, `ursa:`), so that rulesets using
//! them register and a call is a runtime "not supported".

use super::{Member, Module};

/// The known-by-name modules.
pub static MODULES: [&Module; 5] = [&PAGE, &ENGINE, &STDLIB, &URSA, &super::dido::MODULE];

static PAGE: Module = Module {
    domain: "page",
    doc: "classic: page:param(name) is the event attribute",
    members: &[Member {
        doc: "classic page:param(name): the event attribute",
        bare: Some(super::event::attrs),
        ..Member::native("param", &["name"], super::event::attr)
    }],
    ..Module::BLANK
};

/// A module known by name only: every member "not supported".
const fn known(domain: &'static str, doc: &'static str) -> Module {
    Module {
        domain,
        doc,
        ..Module::BLANK
    }
}

static ENGINE: Module = known("engine", "classic engine: module (not supported)");
static STDLIB: Module = known("stdlib", "not supported by this engine");
static URSA: Module = known("ursa", "not supported by this engine");
