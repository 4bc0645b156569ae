//! The runtime: values, the library, and (next) the evaluator of compiled
//! rulesets. Uses `compile`; reaches the outside world (entity variables,
//! clock, HTTP) only through traits the engine implements.

pub mod error;
pub mod paths;
pub mod pattern;
pub mod select;
pub mod stdlib;
pub mod time;
pub mod value;

pub use error::{ErrorKind, RuntimeError};

static NULL: Value = Value::Null;

/// Argument `i` of a pure function, or null when it was not supplied.
pub(crate) fn arg(args: &[Value], i: usize) -> &Value {
    args.get(i).unwrap_or(&NULL)
}

/// `S(x)`: the KRL string of a value.
pub(crate) fn s(v: &Value) -> String {
    v.to_krl_string()
}

/// What a pure module function may need from the engine.
pub struct Env<'a> {
    /// The current time, ms since the Unix epoch.
    pub now_ms: f64,
    /// A uniformly distributed number in `[0, 1)`.
    pub random: &'a mut dyn FnMut() -> f64,
}
pub use value::{map_with_capacity, AsJson, Callable, Context, Map, Regex, Value};
