//! The evaluator's callable values: closures, defactions, library
//! functions used as values, and a used module's functions.

use super::{Frame, Instance, R};
use crate::compile::ir::{DefactionDef, FunctionDef};
use crate::native::{Kind, Member};
use crate::runtime::{Callable, Context, RuntimeError, Value};
use std::sync::Arc;

/// A closure: a function literal and the frame it was created in.
pub struct Closure {
    pub(super) def: Arc<FunctionDef>,
    pub(super) env: Arc<Frame>,
}

impl Callable for Closure {
    fn name(&self) -> &str {
        &self.def.name
    }
    fn params(&self) -> &[Arc<str>] {
        &self.def.params
    }
    fn call(&self, cx: &mut dyn Context, args: Vec<Value>) -> Result<Value, RuntimeError> {
        // reached only from foreign callers; the evaluator runs closures itself
        cx.call(
            &Value::Function(Arc::new(Closure {
                def: self.def.clone(),
                env: self.env.clone(),
            })),
            args,
        )
    }
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// A defaction value.
pub struct DefactionValue {
    pub(super) def: Arc<DefactionDef>,
    pub(super) env: Arc<Frame>,
    /// The instance it was defined in (modules run in their own).
    pub(super) owner: Arc<Instance>,
}

impl Callable for DefactionValue {
    fn name(&self) -> &str {
        &self.def.name
    }
    fn params(&self) -> &[Arc<str>] {
        &self.def.params
    }
    fn call(&self, _cx: &mut dyn Context, _args: Vec<Value>) -> Result<Value, RuntimeError> {
        Err(RuntimeError::new(format!(
            "{} is an action, not a function",
            self.def.name
        )))
    }
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// A library function as a value (`map(f)` where `f = length`).
pub(super) struct LibraryValue(pub(super) &'static Member, pub(super) Vec<Arc<str>>);

impl Callable for LibraryValue {
    fn name(&self) -> &str {
        self.0.name
    }
    fn params(&self) -> &[Arc<str>] {
        &self.1
    }
    fn call(&self, cx: &mut dyn Context, args: Vec<Value>) -> Result<Value, RuntimeError> {
        match self.0.kind {
            Kind::Library(f) | Kind::LibraryAndNoOp(f) => f(cx, &args),
            _ => Err(RuntimeError::new(format!(
                "{} is not a function",
                self.0.name
            ))),
        }
    }
}

/// A provided module function, run in the module's instance.
pub(super) struct ModuleFn {
    pub(super) inner: Arc<dyn Callable>,
    pub(super) module: Arc<Instance>,
}

impl Callable for ModuleFn {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn params(&self) -> &[Arc<str>] {
        self.inner.params()
    }
    fn call(&self, cx: &mut dyn Context, args: Vec<Value>) -> R<Value> {
        self.inner.call(cx, args)
    }
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}
