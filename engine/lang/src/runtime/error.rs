//! Runtime errors. Library code raises them without a position; the
//! evaluator attaches the span of the call site, and the engine adds the
//! ruleset and rule when it reports them (`ruleset, rule, line:col`).

use crate::syntax::ast::Span;
use std::fmt;

/// What kind of error it is, for the code that reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ErrorKind {
    /// Any runtime error.
    #[default]
    Runtime,
    /// `install:refuse(message)`: the ruleset refuses its configuration;
    /// the message is the ruleset's own.
    InstallRefused,
}

/// A KRL runtime error: the evaluation that raised it stops.
#[derive(Clone, Debug, PartialEq)]
pub struct RuntimeError {
    /// What went wrong, e.g. `"a" cannot be multiplied by 2`.
    pub message: String,
    /// Where in the ruleset source, once the evaluator knows.
    pub span: Option<Span>,
    /// Its kind.
    pub kind: ErrorKind,
}

impl RuntimeError {
    /// An error without a position yet.
    #[cold]
    pub fn new(message: impl Into<String>) -> RuntimeError {
        RuntimeError {
            message: message.into(),
            span: None,
            kind: ErrorKind::Runtime,
        }
    }

    /// An error of a given kind.
    #[cold]
    pub fn of_kind(kind: ErrorKind, message: impl Into<String>) -> RuntimeError {
        RuntimeError {
            kind,
            ..RuntimeError::new(message)
        }
    }

    /// A `TypeError` (docs/spec/krl-stdlib.md 0).
    #[cold]
    pub fn type_error(message: impl Into<String>) -> RuntimeError {
        RuntimeError::new(format!("TypeError: {}", message.into()))
    }

    /// Sets the position unless one is already set (the innermost wins).
    pub fn at(mut self, span: Span) -> RuntimeError {
        if self.span.is_none() {
            self.span = Some(span);
        }
        self
    }
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RuntimeError {}
