//! The evaluator: runs compiled expressions, actions and postludes against
//! a frame chain. One `Eval` per ruleset turn; the evaluation-wide state
//! (host, directives, the event queue, the work budget) is in [`Txn`].

use crate::compile::ir::*;
use crate::compile::{Compiled, Ruleset};
use crate::host::{Directive, Event, Host};
use crate::native::{Kind, NativeArgs, NativeCx};
use crate::runtime::stdlib::ops;
use crate::runtime::{Context, Map, RuntimeError, Value};
use crate::syntax::ast::{Level, PersistentScope, Span, UnOp};
use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};

mod action;
mod expr;
mod paths;
mod postlude;
mod values;

pub use paths::{binary, key_get, path_delete, path_get, path_set};
pub use values::{Closure, DefactionValue};

/// A frame of slots; slots are written once (declarations are immutable).
pub struct Frame {
    slots: Box<[OnceLock<Value>]>,
    parent: Option<Arc<Frame>>,
}

impl Frame {
    /// A frame of `size` empty slots under `parent`.
    pub fn new(size: usize, parent: Option<Arc<Frame>>) -> Arc<Frame> {
        Arc::new(Frame {
            slots: (0..size).map(|_| OnceLock::new()).collect(),
            parent,
        })
    }

    /// Writes a slot (the first write wins; slots are written once).
    pub fn set(&self, index: u16, value: Value) {
        if let Some(s) = self.slots.get(index as usize) {
            let _ = s.set(value);
        }
    }

    /// A new frame with the same parent and a copy of the slots set so far.
    pub fn fork(&self, size: usize) -> Arc<Frame> {
        let f = Frame::new(size, self.parent.clone());
        for (i, s) in self.slots.iter().enumerate() {
            if let Some(v) = s.get() {
                f.set(i as u16, v.clone());
            }
        }
        f
    }

    /// Reads a variable (null when not yet set).
    pub fn get(self: &Arc<Frame>, slot: Slot) -> Value {
        let mut f = self;
        for _ in 0..slot.up {
            match &f.parent {
                Some(p) => f = p,
                None => return Value::Null,
            }
        }
        f.slots
            .get(slot.index as usize)
            .and_then(|s| s.get())
            .cloned()
            .unwrap_or(Value::Null)
    }
}

/// Bounds on one evaluation (docs/spec/krl-language.md 9.4, issue "Limits").
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Expression steps per event.
    pub max_ops: u64,
    /// Nested calls.
    pub max_depth: u32,
    /// Events raised per event.
    pub max_raised: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_ops: 10_000_000,
            max_depth: 500,
            max_raised: 1000,
        }
    }
}

/// A ruleset installed on a pico: its globals evaluated.
pub struct Instance {
    /// The compiled ruleset.
    pub compiled: Arc<Compiled>,
    /// The ruleset (source, positions).
    pub ruleset: Arc<Ruleset>,
    /// The global frame.
    pub globals: Arc<Frame>,
    /// `meta:rulesetConfig`.
    pub config: Value,
    /// Classic keys.
    pub keys: Map,
    /// Used modules, in `uses` order.
    pub modules: Vec<Arc<Instance>>,
    /// Classic `use module RID ... with name = value` naming a native
    /// module: its domain and evaluated options (`twiliokeys`).
    pub module_config: Vec<(&'static str, Map)>,
}

/// A queued event of this evaluation: for every ruleset, or one.
pub struct Queued {
    pub(crate) event: Arc<Event>,
    pub(crate) only: Option<Arc<str>>,
}

/// A change of the installed rulesets and where it was asked for: the
/// ruleset, the rule and the span of the call.
pub(crate) type AskedChange = (crate::native::PicoChange, Arc<str>, Option<Arc<str>>, Span);

/// State shared by the whole evaluation of one event.
pub struct Txn<'h> {
    pub(crate) host: &'h mut dyn Host,
    pub(crate) directives: Vec<Directive>,
    pub(crate) queue: VecDeque<Queued>,
    pub(crate) pico_id: Arc<str>,
    pub(crate) txn_id: Arc<str>,
    pub(crate) limits: Limits,
    pub(crate) ops: u64,
    pub(crate) raised: usize,
    pub(crate) in_query: bool,
    /// A query's `CallSid` argument: the call session its functions see
    /// (an event's comes from its attributes).
    pub(crate) query_call_sid: Option<Arc<str>>,
    /// Changes of the installed rulesets asked for by the rule running,
    /// for the runtime to make after the rule.
    pub(crate) changes: Vec<AskedChange>,
    /// Has the host's long-work hook been called?
    pub(crate) long: bool,
}

/// Control flow out of a rule body that is not an error.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    /// carry on
    Next,
    /// `last`: stop this ruleset's rules for this event
    Last,
    /// `error error`: stop, clear the queue (already done)
    Stop,
}

/// The evaluator for one ruleset turn (or one query).
pub struct Eval<'t, 'h> {
    pub(crate) txn: &'t mut Txn<'h>,
    pub(crate) inst: Arc<Instance>,
    pub(crate) event: Option<Arc<Event>>,
    pub(crate) rule_name: Option<Arc<str>>,
    pub(crate) depth: u32,
}

pub(crate) type R<T> = Result<T, RuntimeError>;

impl Context for Eval<'_, '_> {
    fn call(&mut self, f: &Value, args: Vec<Value>) -> R<Value> {
        self.call_value(f, args, Span::default())
    }
    fn log(&mut self, message: &str) {
        let rid = self.inst.compiled.rid.clone();
        self.txn.host.log(&rid, Level::Debug, message);
    }
    fn regex_budget(&mut self) -> crate::runtime::pattern::Budget {
        let max = self.txn.limits.max_ops;
        crate::runtime::pattern::Budget::new(max.saturating_sub(self.txn.ops))
            .with_hook(self.txn.host.long_work_hook())
    }
    fn regex_spent(&mut self, budget: &crate::runtime::pattern::Budget) -> R<()> {
        if budget.used >= crate::runtime::pattern::LONG_WORK_STEPS {
            // The search called the long-work hook itself.
            self.txn.long = true;
        }
        self.txn.ops = self.txn.ops.saturating_add(budget.used).saturating_sub(1);
        self.tick()
    }
}

impl NativeCx for Eval<'_, '_> {
    fn event(&self) -> Option<&Arc<Event>> {
        self.event.as_ref()
    }
    fn rid(&self) -> Arc<str> {
        self.inst.compiled.rid.clone()
    }
    fn rule_name(&self) -> Option<Arc<str>> {
        self.rule_name.clone()
    }
    fn pico_id(&self) -> Arc<str> {
        self.txn.pico_id.clone()
    }
    fn txn_id(&self) -> Arc<str> {
        self.txn.txn_id.clone()
    }
    fn in_query(&self) -> bool {
        self.txn.in_query
    }
    fn config(&self) -> Value {
        self.inst.config.clone()
    }
    fn meta_string(&self, key: &str) -> Value {
        if key == "version" {
            return self
                .inst
                .compiled
                .version
                .as_deref()
                .map_or(Value::Null, Value::from);
        }
        self.inst
            .compiled
            .meta_strings
            .get(key)
            .cloned()
            .unwrap_or(Value::Null)
    }
    fn keys(&self) -> &Map {
        &self.inst.keys
    }
    fn module_config(&self, domain: &str) -> Option<&Map> {
        self.inst
            .module_config
            .iter()
            .find(|(d, _)| *d == domain)
            .map(|(_, m)| m)
    }
    fn host(&mut self) -> &mut dyn Host {
        &mut *self.txn.host
    }
    fn directive(&mut self, d: Directive) {
        self.txn.directives.push(d);
    }
    fn raise(&mut self, domain: &str, name: &str, attrs: Map) -> R<()> {
        Eval::raise(self, domain.to_string(), name.to_string(), attrs, None)
    }
    fn raise_for(&mut self, domain: &str, name: &str, attrs: Map, rid: &str) -> R<()> {
        Eval::raise(
            self,
            domain.to_string(),
            name.to_string(),
            attrs,
            Some(Arc::from(rid)),
        )
    }
    fn change(&mut self, change: crate::native::PicoChange, span: Span) {
        let rid = self.inst.compiled.rid.clone();
        let rule = self.rule_name.clone();
        self.txn.changes.push((change, rid, rule, span));
    }
    fn line_col(&self, span: Span) -> (usize, usize) {
        self.inst.ruleset.line_col(span)
    }
}

impl<'t, 'h> Eval<'t, 'h> {
    pub(super) fn tick(&mut self) -> R<()> {
        self.txn.ops += 1;
        if self.txn.ops >= crate::runtime::pattern::LONG_WORK_STEPS && !self.txn.long {
            self.txn.long = true;
            if let Some(hook) = self.txn.host.long_work_hook() {
                hook();
            }
        }
        if self.txn.ops > self.txn.limits.max_ops {
            return Err(RuntimeError::new(format!(
                "this event did more than {} steps of work (a loop?): stopped",
                self.txn.limits.max_ops
            )));
        }
        Ok(())
    }

    pub(super) fn compiled(&self) -> &Compiled {
        &self.inst.compiled
    }
}
