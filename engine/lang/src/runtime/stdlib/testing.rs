//! Test support: a [`Context`] that runs Rust closures as KRL functions,
//! value shorthands, and the `check!` / `check_err!` macros:
//!
//! ```ignore
//! check!("substr"("hello", 1, 3) => "ell");
//! check!("append"(json!(["a"]), "b") => json!(["a", "b"]));
//! check_err!("index"(5, 1) => "TypeError: only works on Arrays");
//! ```
//!
//! Results are compared by their debug text, so map order and the
//! difference between `1` and `"1"` both count.

use super::function;
use crate::runtime::error::RuntimeError;
use crate::runtime::value::{Callable, Context, Regex, Value};
use std::sync::Arc;

/// A context whose `call` runs closures and whose `log` collects lines.
#[derive(Default)]
pub struct TestCx {
    pub logs: Vec<String>,
}

impl Context for TestCx {
    fn call(&mut self, f: &Value, args: Vec<Value>) -> Result<Value, RuntimeError> {
        match f {
            Value::Function(c) | Value::Action(c) => c.call(self, args),
            other => Err(RuntimeError::type_error(format!(
                "{} is not a function",
                other.to_krl_string()
            ))),
        }
    }

    fn log(&mut self, message: &str) {
        self.logs.push(message.to_string());
    }
}

type ClosureFn = dyn Fn(&[Value]) -> Result<Value, RuntimeError> + Send + Sync;

struct Closure {
    f: Box<ClosureFn>,
    params: Vec<Arc<str>>,
}

impl Callable for Closure {
    fn name(&self) -> &str {
        "closure"
    }
    fn params(&self) -> &[Arc<str>] {
        &self.params
    }
    fn call(&self, _cx: &mut dyn Context, args: Vec<Value>) -> Result<Value, RuntimeError> {
        (self.f)(&args)
    }
}

/// A KRL function value running `f` on its arguments.
pub fn func(f: impl Fn(&[Value]) -> Value + Send + Sync + 'static) -> Value {
    try_func(move |a| Ok(f(a)))
}

/// A KRL function value that may fail.
pub fn try_func(
    f: impl Fn(&[Value]) -> Result<Value, RuntimeError> + Send + Sync + 'static,
) -> Value {
    Value::Function(Arc::new(Closure {
        f: Box::new(f),
        params: vec![],
    }))
}

/// Argument `i` of a closure call (null when missing).
pub fn a(args: &[Value], i: usize) -> Value {
    args.get(i).cloned().unwrap_or(Value::Null)
}

/// A regex value.
pub fn re(source: &str, flags: &str) -> Value {
    Value::Regex(Arc::new(Regex::new(source, flags).unwrap()))
}

/// Anything the tests write as a value.
pub trait ToVal {
    fn to_val(self) -> Value;
}

impl ToVal for Value {
    fn to_val(self) -> Value {
        self
    }
}
impl ToVal for serde_json::Value {
    fn to_val(self) -> Value {
        Value::from_json(&self)
    }
}
impl ToVal for &str {
    fn to_val(self) -> Value {
        Value::from(self)
    }
}
impl ToVal for String {
    fn to_val(self) -> Value {
        Value::from(self)
    }
}
impl ToVal for f64 {
    fn to_val(self) -> Value {
        Value::number(self)
    }
}
impl ToVal for i32 {
    fn to_val(self) -> Value {
        Value::Number(self as f64)
    }
}
impl ToVal for bool {
    fn to_val(self) -> Value {
        Value::Bool(self)
    }
}
impl ToVal for () {
    fn to_val(self) -> Value {
        Value::Null
    }
}

/// Shorthand for [`ToVal::to_val`].
pub fn v(x: impl ToVal) -> Value {
    x.to_val()
}

/// Runs library function `name` in a fresh context.
pub fn run(name: &str, args: Vec<Value>) -> Result<Value, RuntimeError> {
    run_cx(&mut TestCx::default(), name, args)
}

/// Runs library function `name` in `cx`.
pub fn run_cx(cx: &mut TestCx, name: &str, args: Vec<Value>) -> Result<Value, RuntimeError> {
    let b = function(name).unwrap_or_else(|| panic!("no library function {name}"));
    (b.run)(cx, &args)
}

/// Same value, same order, same types.
pub fn same(a: &Value, b: &Value) -> bool {
    format!("{a:?}") == format!("{b:?}") && a == b
}

macro_rules! check {
    ($name:literal ( $($arg:expr),* $(,)? ) => $expected:expr) => {{
        let args: Vec<$crate::runtime::value::Value> =
            vec![$($crate::runtime::stdlib::testing::v($arg)),*];
        let want = $crate::runtime::stdlib::testing::v($expected);
        match $crate::runtime::stdlib::testing::run($name, args.clone()) {
            Ok(got) => assert!(
                $crate::runtime::stdlib::testing::same(&got, &want),
                "{}{:?}\n     got {:?}\nexpected {:?}",
                $name, args, got, want
            ),
            Err(e) => panic!("{}{:?} failed: {}", $name, args, e.message),
        }
    }};
}

macro_rules! check_err {
    ($name:literal ( $($arg:expr),* $(,)? ) => $message:expr) => {{
        let args: Vec<$crate::runtime::value::Value> =
            vec![$($crate::runtime::stdlib::testing::v($arg)),*];
        match $crate::runtime::stdlib::testing::run($name, args.clone()) {
            Ok(got) => panic!("{}{:?} = {:?}, expected an error", $name, args, got),
            Err(e) => assert_eq!(e.message, $message, "{}{:?}", $name, args),
        }
    }};
}
