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

use super::{arg, s, Env, Kind, Member, Module};
use crate::runtime::{ErrorKind, RuntimeError, Value};

/// What the message of a refusal starts with.
pub const REFUSED: &str = "install refused: ";

/// `install:`.
pub static MODULE: Module = Module {
    domain: "install",
    doc: "An engine extension: a ruleset refuses an install configuration it cannot work with.",
    members: MEMBERS,
    ..Module::BLANK
};

/// The members of `install:`.
static MEMBERS: &[Member] = &[Member {
    name: "refuse",
    params: &["message"],
    kind: Kind::Function(refuse),
    ..Member::BLANK
}];

/// `install:refuse(message)`: always an error (a null message says only
/// that the configuration is invalid).
fn refuse(args: &[Value], _: &mut Env) -> Result<Value, RuntimeError> {
    let message = match arg(args, 0) {
        Value::Null => "invalid configuration".to_string(),
        v => s(v),
    };
    Err(RuntimeError::of_kind(
        ErrorKind::InstallRefused,
        format!("{REFUSED}{message}"),
    ))
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
        let mut r = || 0.5;
        let mut env = Env {
            now_ms: 0.0,
            random: &mut r,
        };
        let e = refuse(&[st("no")], &mut env).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InstallRefused);
    }
}
