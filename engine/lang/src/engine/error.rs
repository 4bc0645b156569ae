//! Errors of installs, events and queries, with where they happened.

use crate::runtime::ErrorKind;

/// A runtime error with where it happened.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalError {
    /// The ruleset.
    pub rid: String,
    /// The rule, when in one.
    pub rule: Option<String>,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub col: Option<usize>,
    /// What went wrong.
    pub message: String,
    /// Its kind.
    pub kind: ErrorKind,
}

impl EvalError {
    /// The ruleset's own message when this error is an
    /// `install:refuse(message)`; `None` for any other error.
    pub fn refusal(&self) -> Option<&str> {
        (self.kind == ErrorKind::InstallRefused).then(|| {
            self.message
                .strip_prefix(crate::modules::install::REFUSED)
                .unwrap_or(&self.message)
        })
    }
}

impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}", self.message, self.rid)?;
        if let Some(r) = &self.rule {
            write!(f, ", rule {r}")?;
        }
        if let (Some(l), Some(c)) = (self.line, self.col) {
            write!(f, ", {l}:{c}")?;
        }
        write!(f, ")")
    }
}

impl std::error::Error for EvalError {}

/// Why a query failed.
#[derive(Debug)]
pub enum QueryError {
    /// `Pico doesn't have <rid> installed.`
    NotInstalled(String),
    /// `Not shared: <rid>/<name>`
    NotShared(String, String),
    /// a runtime error in the function
    Runtime(EvalError),
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueryError::NotInstalled(rid) => write!(f, "Pico doesn't have {rid} installed."),
            QueryError::NotShared(rid, name) => write!(f, "Not shared: {rid}/{name}"),
            QueryError::Runtime(e) => write!(f, "{e}"),
        }
    }
}
