//! Domains known by name only: the classic `page:` and `engine:` (whose
//! `page:param(name)` is the event attribute), and modules this engine does
//! not implement (`stdlib:`, `ursa:`, `dido:`), so that rulesets using
//! them register and a call is a runtime "not supported".

use super::{Member, Module};

/// The known-by-name modules.
pub static MODULES: [&Module; 5] = [&PAGE, &ENGINE, &STDLIB, &URSA, &DIDO];

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

static ENGINE: Module = Module {
    domain: "engine",
    doc: "classic engine: module (not supported)",
    ..Module::BLANK
};

static STDLIB: Module = Module {
    domain: "stdlib",
    doc: "not supported by this engine",
    ..Module::BLANK
};

static URSA: Module = Module {
    domain: "ursa",
    doc: "not supported by this engine",
    ..Module::BLANK
};

static DIDO: Module = Module {
    domain: "dido",
    doc: "not supported by this engine",
    ..Module::BLANK
};
