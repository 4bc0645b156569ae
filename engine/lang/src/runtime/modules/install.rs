//! `install:` (an engine extension): a ruleset refuses to be installed
//! with a configuration it cannot work with.
//!
//! `install:refuse(message)` stops the evaluation with the runtime error
//! `install refused: <message>`. Called while a ruleset is being
//! installed (its keys, configuration or globals are evaluated then), it
//! refuses the install: the server answers 400 with `message`, and the
//! pico is left as it was. Anywhere else it is an ordinary runtime error.
//!
//! ```krl
//! global {
//!   problems = check(meta:rulesetConfig)   // a list of strings
//!   valid = problems.length() == 0 || install:refuse(problems.join("; "))
//! }
//! ```

use super::{arg, s, Env, Kind, Member};
use crate::engine::EvalError;
use crate::runtime::error::RuntimeError;
use crate::runtime::value::Value;

/// What the message of a refusal starts with.
pub const REFUSED: &str = "install refused: ";

/// The members of `install:`.
pub(super) static MEMBERS: &[Member] = &[Member {
    name: "refuse",
    params: &["message"],
    kind: Kind::Function(refuse),
}];

/// `install:refuse(message)`: always an error (a null message says only
/// that the configuration is invalid).
fn refuse(args: &[Value], _: &mut Env) -> Result<Value, RuntimeError> {
    let message = match arg(args, 0) {
        Value::Null => "invalid configuration".to_string(),
        v => s(v),
    };
    Err(RuntimeError::new(format!("{REFUSED}{message}")))
}

impl EvalError {
    /// The ruleset's own message when this error is an
    /// `install:refuse(message)`; `None` for any other error.
    pub fn refusal(&self) -> Option<&str> {
        self.message.strip_prefix(REFUSED)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[test]
    fn refuse_is_an_error_with_the_message() {
        assert_eq!(
            err("install", "refuse", &[st("[ivr] timezone: missing")]),
            "install refused: [ivr] timezone: missing"
        );
        assert_eq!(
            err("install", "refuse", &[]),
            "install refused: invalid configuration"
        );
        let e = EvalError {
            rid: "io.x".into(),
            rule: None,
            line: Some(3),
            col: Some(7),
            message: err("install", "refuse", &[st("no")]),
        };
        assert_eq!(e.refusal(), Some("no"));
        let other = EvalError {
            message: "TypeError: x".into(),
            ..e
        };
        assert_eq!(other.refusal(), None);
    }
}
