//! Running rulesets: [`compile`] turns source into a shared [`Compiled`]
//! ruleset; a [`PicoRuntime`] holds one pico's installed instances and
//! processes its events and queries (krl-language.md 9). All I/O —
//! entity and app variables, rule states, the clock, randomness, logs —
//! goes through the [`Host`] the engine passes in, so this module has no
//! sled, no tokio and no network.

mod error;
pub mod memory;
mod runtime;

pub use error::{EvalError, QueryError};
pub use runtime::{after_event, Outcome, PicoRuntime};

pub use crate::compile::{Compiled, Ruleset};
pub use crate::eval::{Instance, Limits};
pub use crate::host::{
    Directive, Event, Host, HttpHost, HttpRequest, MqttHost, MqttPublish, TwilioHost,
    TwilioRequest, DIRECTIVE_ARG,
};

use crate::native::Registry;
use crate::syntax::Diagnostic;
use std::sync::Arc;

/// Parses, checks and compiles `src`. Errors (never warnings) come back
/// in source order.
pub fn compile(src: &str) -> Result<Arc<Ruleset>, Vec<Diagnostic>> {
    let ast = crate::syntax::parse_ruleset(src).map_err(|d| vec![d])?;
    compile_ast(&ast, src)
}

/// Checks and compiles a parsed ruleset against the default registry.
pub fn compile_ast(
    ast: &crate::syntax::ast::Ruleset,
    src: &str,
) -> Result<Arc<Ruleset>, Vec<Diagnostic>> {
    let registry = registry();
    let errors: Vec<Diagnostic> = crate::compile::check::check_ruleset(ast, registry)
        .into_iter()
        .filter(Diagnostic::is_error)
        .collect();
    if !errors.is_empty() {
        return Err(errors);
    }
    let compiled = crate::compile::compile_ruleset(ast, registry).map_err(|d| vec![d])?;
    Ok(Arc::new(Ruleset::new(compiled, src)))
}

/// Every problem the checker finds in a parsed ruleset (errors and
/// warnings, in source order), against the default registry.
pub fn check(ast: &crate::syntax::ast::Ruleset) -> Vec<Diagnostic> {
    crate::compile::check::check_ruleset(ast, registry())
}

/// Compiles a checked ruleset against the default registry (what
/// registration does after the checks pass).
pub fn compile_checked(ast: &crate::syntax::ast::Ruleset) -> Result<Compiled, Diagnostic> {
    crate::compile::compile_ruleset(ast, registry())
}

/// The registry of this build's native modules.
pub fn registry() -> &'static Registry {
    crate::modules::registry()
}
