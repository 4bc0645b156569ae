//! The runtime: values, the library, and (next) the evaluator of compiled
//! rulesets. Uses `compile`; reaches the outside world (entity variables,
//! clock, HTTP) only through traits the engine implements.

pub mod error;
pub mod select;
pub mod stdlib;
pub mod value;

pub use error::{ErrorKind, RuntimeError};
pub use value::{Callable, Context, Map, Regex, Value};
