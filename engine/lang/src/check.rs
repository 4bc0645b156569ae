//! Compile-time checks (krl-language.md 3.6).

use crate::syntax::ast::Ruleset;
use crate::syntax::Diagnostic;

/// Every problem found in `rs`, errors and warnings, in source order.
pub fn check_ruleset(_rs: &Ruleset) -> Vec<Diagnostic> {
    Vec::new()
}
