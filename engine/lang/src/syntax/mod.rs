//! Syntax: the pest grammar (`grammar/krl.pest`), the typed AST with spans,
//! and diagnostics. Uses pest only; nothing outside this module sees pest
//! types.

pub mod ast;
pub mod diag;
mod expected;
pub(crate) mod grammar;
mod parser;
pub mod words;

pub use diag::{Diagnostic, LineIndex, Severity};
pub use parser::{parse_expr, parse_ruleset, MAX_CHAIN, MAX_NESTING};
pub(crate) use parser::{STACK_RED_ZONE, STACK_SIZE};
