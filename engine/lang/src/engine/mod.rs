//! Running rulesets: [`compile`] turns source into a shared [`Compiled`]
//! ruleset; a [`PicoRuntime`] holds one pico's installed instances and
//! processes its events and queries (docs/spec/krl-language.md 9). All I/O —
//! entity and app variables, rule states, the clock, randomness, logs —
//! goes through the [`Host`] the engine passes in, so this module has no
//! sled, no tokio and no network.

mod error;
pub mod memory;
mod runtime;

pub use crate::native::PicoChange;
pub use error::{EvalError, QueryError};
pub use runtime::{after_event, Outcome, PicoRuntime};

pub use crate::compile::{Compiled, Ruleset};
pub use crate::eval::{Instance, Limits};
pub use crate::host::{
    CtxHost, Directive, Event, Host, HttpHost, HttpRequest, MqttHost, MqttPublish, TwilioHost,
    TwilioRequest, DIRECTIVE_ARG, LONG_WORK_STEPS,
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

/// Parses, checks and compiles `src`, answering its warnings with it;
/// errors (never warnings) come back in source order.
pub fn compile_with_warnings(
    src: &str,
) -> Result<(Arc<Ruleset>, Vec<Diagnostic>), Vec<Diagnostic>> {
    let ast = crate::syntax::parse_ruleset(src).map_err(|d| vec![d])?;
    let (compiled, diags) = analyze(&ast);
    match compiled {
        Some(c) if !diags.iter().any(Diagnostic::is_error) => {
            Ok((Arc::new(Ruleset::new(c, src)), diags))
        }
        _ => Err(diags.into_iter().filter(Diagnostic::is_error).collect()),
    }
}

/// Checks and compiles a parsed ruleset against the default registry:
/// the lints and the one compile pass, every error in source order.
pub fn compile_ast(
    ast: &crate::syntax::ast::Ruleset,
    src: &str,
) -> Result<Arc<Ruleset>, Vec<Diagnostic>> {
    let (compiled, diags) = analyze(ast);
    match compiled {
        Some(c) if !diags.iter().any(Diagnostic::is_error) => Ok(Arc::new(Ruleset::new(c, src))),
        _ => Err(diags.into_iter().filter(Diagnostic::is_error).collect()),
    }
}

/// Every problem in a parsed ruleset (errors and warnings, in source
/// order): the lints and the diagnostics of the compile pass, against the
/// default registry.
pub fn check(ast: &crate::syntax::ast::Ruleset) -> Vec<Diagnostic> {
    analyze(ast).1
}

/// The compiled ruleset (when it has no error) and every diagnostic.
fn analyze(ast: &crate::syntax::ast::Ruleset) -> (Option<Compiled>, Vec<Diagnostic>) {
    let mut diags = crate::compile::check::check_ruleset(ast);
    let (compiled, more) = crate::compile::compile_ruleset(ast, registry());
    diags.extend(more);
    diags.sort_by_key(|d| (d.span.start, d.span.end));
    // a lint and the compiler's matcher may find the same fault
    let mut seen = std::collections::HashSet::new();
    diags.retain(|d| seen.insert((d.span.start, d.span.end, d.message.clone())));
    (compiled, diags)
}

/// The registry of this build's native modules.
pub fn registry() -> &'static Registry {
    crate::modules::registry()
}
