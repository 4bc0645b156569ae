//! The built-in modules that need nothing but a clock and a source of
//! randomness: `time:`, `math:` and `random:` (krl-stdlib.md 8.3–8.5), as
//! pure functions over [`Value`].
//!
//! A member is written `domain:name`. *Functions* are run with [`call`],
//! *properties* (read without parentheses, `math:hashAlgorithms`) with
//! [`property`]; [`exists`] and [`params`] serve the compiler, which
//! resolves every `domain:name` once and binds named arguments.
//!
//! Calling convention (as for the library, krl-stdlib.md 0): `args` holds
//! the supplied arguments in parameter order, named arguments already bound
//! to their positions and gaps filled with null; its length is the number
//! supplied, so "omitted" (shorter `args`) and "null" can be told apart.
//! Extra arguments are ignored.
//!
//! Engine extensions beyond the reference (documented on the functions):
//! `time:strftime(date, fmt, opts)` formats in an IANA time zone, and
//! `time:local(date, tz)` breaks a date into its wall-clock fields in a
//! zone (for business hours and the like); `install:refuse(message)`
//! refuses an install with a configuration error.

pub mod install;
pub mod math;
pub mod random;
pub mod time;

use super::error::RuntimeError;
use super::value::Value;

/// What a module function may need from the engine.
pub struct Env<'a> {
    /// The current time, ms since the Unix epoch (`time:now`, the "today"
    /// of time-only dates, `random:uuid`).
    pub now_ms: f64,
    /// A uniformly distributed number in `[0, 1)` (`random:`).
    pub random: &'a mut dyn FnMut() -> f64,
}

/// The signature of a module function.
pub type ModuleFn = fn(&[Value], &mut Env) -> Result<Value, RuntimeError>;

/// What a module member is.
#[derive(Clone, Copy)]
pub enum Kind {
    /// Called with arguments (`time:now()`).
    Function(ModuleFn),
    /// Read without a call (`math:hashAlgorithms`).
    Property(fn() -> Value),
}

/// One member of a built-in module.
pub struct Member {
    /// Its name after the colon (`"strftime"`).
    pub name: &'static str,
    /// Parameter names, for named arguments (empty for properties).
    pub params: &'static [&'static str],
    /// Function or property.
    pub kind: Kind,
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Member({})", self.name)
    }
}

/// The members of module `domain`, if this file implements it.
pub fn members(domain: &str) -> Option<&'static [Member]> {
    match domain {
        "time" => Some(time::MEMBERS),
        "math" => Some(math::MEMBERS),
        "random" => Some(random::MEMBERS),
        "install" => Some(install::MEMBERS),
        _ => None,
    }
}

/// The member `domain:name`, if it exists.
pub fn member(domain: &str, name: &str) -> Option<&'static Member> {
    members(domain)?.iter().find(|m| m.name == name)
}

/// Calls `domain:name(args)`; None when the member does not exist in that
/// module or is a property (read it with [`property`]).
pub fn call(
    domain: &str,
    name: &str,
    args: &[Value],
    env: &mut Env,
) -> Option<Result<Value, RuntimeError>> {
    match member(domain, name)?.kind {
        Kind::Function(f) => Some(f(args, env)),
        Kind::Property(_) => None,
    }
}

/// Properties read without a call (e.g. `math:hashAlgorithms`): Some(value)
/// if it exists.
pub fn property(domain: &str, name: &str) -> Option<Value> {
    match member(domain, name)?.kind {
        Kind::Property(p) => Some(p()),
        Kind::Function(_) => None,
    }
}

/// Does this module member exist (for compile-time resolution)?
pub fn exists(domain: &str, name: &str) -> bool {
    member(domain, name).is_some()
}

/// Is `domain:name` a function (as opposed to a property)?
pub fn is_function(domain: &str, name: &str) -> bool {
    matches!(member(domain, name), Some(m) if matches!(m.kind, Kind::Function(_)))
}

/// The parameter names of function `domain:name`, for named arguments.
pub fn params(domain: &str, name: &str) -> Option<&'static [&'static str]> {
    member(domain, name).map(|m| m.params)
}

// ---------------------------------------------------------------------------
// Helpers shared by the module files.

static NULL: Value = Value::Null;

/// Argument `i`, or null when it was not supplied.
fn arg(args: &[Value], i: usize) -> &Value {
    args.get(i).unwrap_or(&NULL)
}

/// `S(x)`.
fn s(v: &Value) -> String {
    v.to_krl_string()
}

#[cfg(test)]
pub(crate) mod testing {
    //! Shorthands for the module tests.
    use super::*;
    use std::sync::Arc;

    /// Calls `domain:name(args)` at `now_ms` with a fixed random sequence.
    pub fn run_at(
        now_ms: f64,
        randoms: &[f64],
        domain: &str,
        name: &str,
        args: &[Value],
    ) -> Result<Value, RuntimeError> {
        let mut i = 0;
        let mut next = || {
            let r = randoms
                .get(i % randoms.len().max(1))
                .copied()
                .unwrap_or(0.5);
            i += 1;
            r
        };
        let mut env = Env {
            now_ms,
            random: &mut next,
        };
        call(domain, name, args, &mut env).expect("no such member")
    }

    /// `2024-05-17T12:00:00.000Z`, the clock of most tests.
    pub const NOW: f64 = 1_715_947_200_000.0;

    /// Calls `domain:name(args)` at [`NOW`].
    pub fn run(domain: &str, name: &str, args: &[Value]) -> Result<Value, RuntimeError> {
        run_at(NOW, &[0.5], domain, name, args)
    }

    /// The result, which must not be an error.
    pub fn ok(domain: &str, name: &str, args: &[Value]) -> Value {
        run(domain, name, args).unwrap_or_else(|e| panic!("{domain}:{name}: {e}"))
    }

    /// The error message, which there must be.
    pub fn err(domain: &str, name: &str, args: &[Value]) -> String {
        match run(domain, name, args) {
            Ok(v) => panic!("{domain}:{name} gave {v:?}, not an error"),
            Err(e) => e.message,
        }
    }

    /// A string value.
    pub fn st(x: &str) -> Value {
        Value::from(x)
    }

    /// A number value.
    pub fn n(x: f64) -> Value {
        Value::from(x)
    }

    /// A value from JSON text.
    pub fn j(text: &str) -> Value {
        Value::from_json(&serde_json::from_str(text).unwrap())
    }

    /// A map from pairs.
    pub fn map(pairs: &[(&str, Value)]) -> Value {
        Value::from(
            pairs
                .iter()
                .map(|(k, v)| (Arc::from(*k), v.clone()))
                .collect::<crate::runtime::Map>(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn resolution() {
        assert!(exists("time", "now"));
        assert!(exists("math", "hashAlgorithms"));
        assert!(exists("random", "uuid"));
        assert!(!exists("time", "nope"));
        assert!(!exists("event", "attrs"));
        assert!(is_function("time", "now"));
        assert!(!is_function("math", "hashAlgorithms"));
        assert_eq!(params("time", "add"), Some(&["date", "spec"][..]));
        assert_eq!(params("nope", "add"), None);
    }

    #[test]
    fn properties_are_not_called_and_functions_not_read() {
        assert!(property("math", "hashAlgorithms").is_some());
        assert!(property("time", "now").is_none());
        assert!(property("math", "nope").is_none());
        let mut r = || 0.5;
        let mut env = Env {
            now_ms: NOW,
            random: &mut r,
        };
        assert!(call("math", "hashAlgorithms", &[], &mut env).is_none());
        assert!(call("math", "nope", &[], &mut env).is_none());
        assert!(call("nope", "now", &[], &mut env).is_none());
        assert!(call("time", "now", &[], &mut env).is_some());
    }

    #[test]
    fn member_tables_have_unique_names() {
        for d in ["time", "math", "random"] {
            let ms = members(d).unwrap();
            for (i, m) in ms.iter().enumerate() {
                assert!(
                    ms[i + 1..].iter().all(|o| o.name != m.name),
                    "{d}:{}",
                    m.name
                );
                if let Kind::Property(_) = m.kind {
                    assert!(m.params.is_empty());
                }
            }
        }
    }
}
