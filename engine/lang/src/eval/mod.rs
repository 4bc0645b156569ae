//! The evaluator: runs compiled expressions, actions and postludes against
//! a frame chain. One `Eval` per ruleset turn; the evaluation-wide state
//! (host, directives, the event queue, the work budget) is in [`Txn`].

use crate::compile::ir::*;
use crate::compile::{Compiled, Ruleset};
use crate::host::{Directive, Event, Host};
use crate::native::{Kind, Member, NativeArgs, NativeCx};
use crate::runtime::stdlib::ops;
use crate::runtime::{Callable, Context, Map, RuntimeError, Value};
use crate::syntax::ast::{BinOp, Level, PersistentScope, Span, UnOp};
use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};

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

/// Bounds on one evaluation (language 9.4, issue "Limits").
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

/// A closure: a function literal and the frame it was created in.
pub struct Closure {
    def: Arc<FunctionDef>,
    env: Arc<Frame>,
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
    def: Arc<DefactionDef>,
    env: Arc<Frame>,
    /// The instance it was defined in (modules run in their own).
    owner: Arc<Instance>,
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
struct LibraryValue(&'static Member, Vec<Arc<str>>);

impl Callable for LibraryValue {
    fn name(&self) -> &str {
        self.0.name
    }
    fn params(&self) -> &[Arc<str>] {
        &self.1
    }
    fn call(&self, cx: &mut dyn Context, args: Vec<Value>) -> Result<Value, RuntimeError> {
        match self.0.kind {
            Kind::Library(f) | Kind::LibraryAndAction(f, _) => f(cx, &args),
            _ => Err(RuntimeError::new(format!(
                "{} is not a function",
                self.0.name
            ))),
        }
    }
}

/// A queued event of this evaluation: for every ruleset, or one.
pub struct Queued {
    pub(crate) event: Arc<Event>,
    pub(crate) only: Option<Arc<str>>,
}

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

type R<T> = Result<T, RuntimeError>;

impl Context for Eval<'_, '_> {
    fn call(&mut self, f: &Value, args: Vec<Value>) -> R<Value> {
        self.call_value(f, args, Span::default())
    }
    fn log(&mut self, message: &str) {
        let rid = self.inst.compiled.rid.clone();
        self.txn.host.log(&rid, Level::Debug, message);
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
    fn line_col(&self, span: Span) -> (usize, usize) {
        self.inst.ruleset.line_col(span)
    }
}

impl<'t, 'h> Eval<'t, 'h> {
    fn tick(&mut self) -> R<()> {
        self.txn.ops += 1;
        if self.txn.ops > self.txn.limits.max_ops {
            return Err(RuntimeError::new(format!(
                "this event did more than {} steps of work (a loop?): stopped",
                self.txn.limits.max_ops
            )));
        }
        Ok(())
    }

    fn compiled(&self) -> &Compiled {
        &self.inst.compiled
    }

    /// Evaluates an expression in `env`.
    pub fn expr(&mut self, e: &Expr, env: &Arc<Frame>) -> R<Value> {
        self.tick()?;
        match e {
            Expr::Const(v) => Ok(v.clone()),
            Expr::Template(parts) => {
                let mut s = String::new();
                for p in parts {
                    s.push_str(&self.expr(p, env)?.to_krl_string());
                }
                Ok(Value::from(s))
            }
            Expr::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    out.push(self.expr(i, env)?);
                }
                Ok(Value::from(out))
            }
            Expr::Map(entries) => {
                let mut m = Map::with_capacity(entries.len());
                for (k, v) in entries {
                    let v = self.expr(v, env)?;
                    m.insert(k.clone(), v);
                }
                Ok(Value::from(m))
            }
            Expr::Var(slot, _) => Ok(env.get(*slot)),
            Expr::Library(m) => Ok(Value::Function(Arc::new(LibraryValue(
                m,
                m.params.iter().map(|p| Arc::from(*p)).collect(),
            )))),
            Expr::Persistent(scope, name) => self.persistent_get(*scope, name),
            Expr::ModuleMember(i, name) => self.module_member(*i, name),
            Expr::Native(call) => self.native(call, env),
            Expr::Unary(op, x) => {
                let v = self.expr(x, env)?;
                match op {
                    UnOp::Not => Ok(Value::Bool(!v.truthy())),
                    UnOp::Pos => Ok(v),
                    UnOp::Neg => ops::neg(&v),
                }
            }
            Expr::Binary(op, l, r) => {
                let a = self.expr(l, env)?;
                let b = self.expr(r, env)?;
                binary(*op, &a, &b)
            }
            Expr::And(l, r) => {
                let a = self.expr(l, env)?;
                if a.truthy() {
                    self.expr(r, env)
                } else {
                    Ok(a)
                }
            }
            Expr::Or(l, r) => {
                let a = self.expr(l, env)?;
                if a.truthy() {
                    Ok(a)
                } else {
                    self.expr(r, env)
                }
            }
            Expr::Cond(t, a, b) => {
                if self.expr(t, env)?.truthy() {
                    self.expr(a, env)
                } else {
                    self.expr(b, env)
                }
            }
            Expr::CallLibrary(f, args, span) => {
                let mut values = Vec::with_capacity(args.len());
                for a in args {
                    values.push(self.expr(a, env)?);
                }
                f(self, &values).map_err(|e| e.at(*span))
            }
            Expr::Call(f, args, span) => {
                let fv = self.expr(f, env)?;
                let values = self.bind_args(&fv, args, env)?;
                self.call_value(&fv, values, *span).map_err(|e| e.at(*span))
            }
            Expr::Path(target, path) => {
                let t = self.expr(target, env)?;
                let p = self.expr(path, env)?;
                Ok(path_get(&t, &p))
            }
            Expr::Index(target, index) => {
                let t = self.expr(target, env)?;
                let i = self.expr(index, env)?;
                Ok(key_get(&t, &i.to_krl_string()))
            }
            Expr::Function(def) => Ok(Value::Function(Arc::new(Closure {
                def: def.clone(),
                env: env.clone(),
            }))),
            Expr::Defaction(def) => Ok(Value::Action(Arc::new(DefactionValue {
                def: def.clone(),
                env: env.clone(),
                owner: self.inst.clone(),
            }))),
            Expr::At(inner, span) => self.expr(inner, env).map_err(|e| e.at(*span)),
        }
    }

    /// Positional then named arguments, bound to the callee's parameters.
    fn bind_args(&mut self, f: &Value, args: &Args, env: &Arc<Frame>) -> R<Vec<Value>> {
        let mut values = Vec::with_capacity(args.positional.len() + args.named.len());
        for a in &args.positional {
            values.push(self.expr(a, env)?);
        }
        if args.named.is_empty() {
            return Ok(values);
        }
        let params: Vec<Arc<str>> = match f {
            Value::Function(c) | Value::Action(c) => c.params().to_vec(),
            _ => Vec::new(),
        };
        for (name, e) in &args.named {
            let v = self.expr(e, env)?;
            if let Some(i) = params.iter().position(|p| p == name) {
                if values.len() <= i {
                    values.resize(i + 1, Value::Null);
                }
                values[i] = v;
            }
        }
        Ok(values)
    }

    /// Calls a function value.
    pub fn call_value(&mut self, f: &Value, args: Vec<Value>, span: Span) -> R<Value> {
        match f {
            Value::Function(c) => {
                let any = c.as_any();
                if let Some(cl) = any.and_then(|a| a.downcast_ref::<Closure>()) {
                    return self.call_closure(&cl.def, &cl.env, args);
                }
                if let Some(m) = any.and_then(|a| a.downcast_ref::<ModuleFn>()) {
                    // a module's function runs in the module's instance, with no event
                    let saved_inst = std::mem::replace(&mut self.inst, m.module.clone());
                    let saved_event = self.event.take();
                    let r = self.call_value(&Value::Function(m.inner.clone()), args, span);
                    self.inst = saved_inst;
                    self.event = saved_event;
                    return r;
                }
                c.call(self, args)
            }
            Value::Action(_) => Err(RuntimeError::new(
                "an action cannot be called as a function: run it in an action block",
            )
            .at(span)),
            other => Err(RuntimeError::type_error(format!(
                "{} is not a function",
                other.to_krl_string()
            ))
            .at(span)),
        }
    }

    fn enter(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > self.txn.limits.max_depth {
            return Err(RuntimeError::new(format!(
                "calls nested deeper than {} (unbounded recursion?)",
                self.txn.limits.max_depth
            )));
        }
        Ok(())
    }

    fn call_closure(&mut self, def: &FunctionDef, env: &Arc<Frame>, args: Vec<Value>) -> R<Value> {
        // KRL recursion is bounded by `max_depth`; the Rust stack under it
        // grows in segments so that bound, not the thread's stack, decides.
        stacker::maybe_grow(128 * 1024, 2 << 20, || {
            self.call_closure_inner(def, env, args)
        })
    }

    fn call_closure_inner(
        &mut self,
        def: &FunctionDef,
        env: &Arc<Frame>,
        args: Vec<Value>,
    ) -> R<Value> {
        self.enter()?;
        let frame = Frame::new(def.frame_size, Some(env.clone()));
        let r = (|| {
            self.bind_params(&def.params, &def.defaults, args, &frame)?;
            for (slot, e) in &def.body {
                let v = self.expr(e, &frame)?;
                frame.set(*slot, v);
            }
            self.expr(&def.result, &frame)
        })();
        self.depth -= 1;
        r
    }

    fn bind_params(
        &mut self,
        params: &[Arc<str>],
        defaults: &[Option<Expr>],
        args: Vec<Value>,
        frame: &Arc<Frame>,
    ) -> R<()> {
        let mut args = args.into_iter();
        for (i, d) in defaults.iter().enumerate().take(params.len()) {
            let v = args.next().unwrap_or(Value::Null);
            let v = match (v, d) {
                (Value::Null, Some(d)) => self.expr(d, frame)?,
                (v, _) => v,
            };
            frame.set(i as u16, v);
        }
        Ok(())
    }

    // ------------------------------------------------------------ members

    fn persistent_get(&mut self, scope: PersistentScope, name: &str) -> R<Value> {
        let rid = self.compiled().rid.clone();
        match scope {
            PersistentScope::Ent => self.txn.host.ent_get(&rid, name),
            PersistentScope::App => self.txn.host.app_get(&rid, name),
            PersistentScope::Session => {
                let call = self.call_sid()?;
                match self.txn.host.twilio() {
                    Some(t) => t.session_get(&rid, &call, name),
                    None => Err(no_sessions(name)),
                }
            }
        }
    }

    /// The call a `session:` variable belongs to: the `CallSid` attribute
    /// of the event being handled (a query's `CallSid` argument).
    fn call_sid(&self) -> R<Arc<str>> {
        let found = match &self.event {
            Some(ev) => match ev.attrs.get("CallSid") {
                Some(Value::Str(s)) if !s.is_empty() => Some(s.clone()),
                _ => None,
            },
            None => self.txn.query_call_sid.clone(),
        };
        found.ok_or_else(|| {
            RuntimeError::new(match (&self.event, self.txn.in_query) {
                (Some(_), _) => "session: variables need a call: this event has no CallSid",
                (None, true) => {
                    "session: variables need a call: this query has no CallSid argument"
                }
                (None, false) => {
                    "session: variables need a call: there is no event here (globals and configuration run outside any call)"
                }
            })
        })
    }

    fn module_member(&mut self, i: usize, name: &str) -> R<Value> {
        let module = self
            .inst
            .modules
            .get(i)
            .cloned()
            .ok_or_else(|| RuntimeError::new("module is not installed"))?;
        if !module.compiled.provides.iter().any(|p| &**p == name) {
            return Err(RuntimeError::new(format!(
                "{} does not provide {name}",
                module.compiled.rid
            )));
        }
        let slot = module
            .compiled
            .global(name)
            .ok_or_else(|| RuntimeError::new(format!("{} has no {name}", module.compiled.rid)))?;
        let v = module.globals.get(Slot { up: 0, index: slot });
        Ok(match v {
            // a module's function runs in the module's instance
            Value::Function(c) if c.as_any().is_some_and(|a| a.is::<Closure>()) => {
                Value::Function(Arc::new(ModuleFn { inner: c, module }))
            }
            other => other,
        })
    }

    /// A native member: its arguments evaluated, then its code.
    fn native(&mut self, call: &NativeCall, env: &Arc<Frame>) -> R<Value> {
        let mut values = Vec::with_capacity(call.args.len());
        for a in &call.args {
            values.push(self.expr(a, env)?);
        }
        let mut named = Map::new();
        for (k, e) in &call.named {
            let v = self.expr(e, env)?;
            named.insert(k.clone(), v);
        }
        let args = NativeArgs {
            args: &values,
            named: &named,
            name: &call.name,
            domain: &call.domain,
            span: call.span,
        };
        let m = call.member;
        let r = match m.kind {
            _ if call.bare && m.bare.is_some() => (m.bare.expect("checked"))(self, &args),
            Kind::Library(f) | Kind::LibraryAndAction(f, _) => f(self, &values),
            Kind::Function(f) => {
                let now_ms = self.txn.host.now_ms();
                let host = &mut *self.txn.host;
                let mut random = || host.random();
                let mut env = crate::native::Env {
                    now_ms,
                    random: &mut random,
                };
                f(&values, &mut env)
            }
            Kind::Property(p) => Ok(p()),
            Kind::Native(f) | Kind::Action(f) | Kind::Both(f) => f(self, &args),
        };
        r.map_err(|e| e.at(call.span))
    }

    /// A native action: its arguments evaluated, then its code.
    fn native_action(&mut self, call: &NativeCall, env: &Arc<Frame>) -> R<Value> {
        match call.member.kind {
            Kind::LibraryAndAction(_, f) => {
                let bare = NativeCall {
                    member: call.member,
                    domain: call.domain.clone(),
                    name: call.name.clone(),
                    args: Vec::new(),
                    named: Vec::new(),
                    bare: false,
                    span: call.span,
                };
                let args = NativeArgs {
                    args: &[],
                    named: &Map::new(),
                    name: &bare.name,
                    domain: &bare.domain,
                    span: bare.span,
                };
                // evaluated for their effects, as any action's arguments
                for a in &call.args {
                    self.expr(a, env)?;
                }
                f(self, &args)
            }
            _ => self.native(call, env),
        }
    }

    // ------------------------------------------------------------ actions

    /// Runs an action block; returns whether the rule fired.
    pub fn action_block(&mut self, b: &ActionBlock, env: &Arc<Frame>) -> R<bool> {
        if let Some(c) = &b.condition {
            if !self.expr(c, env)?.truthy() {
                return Ok(false);
            }
        }
        match &b.kind {
            BlockKind::Every => {
                for a in &b.actions {
                    self.action(a, env)?;
                }
            }
            BlockKind::Sample => {
                if !b.actions.is_empty() {
                    let r = self.txn.host.random();
                    let i = ((r * b.actions.len() as f64) as usize).min(b.actions.len() - 1);
                    self.action(&b.actions[i], env)?;
                }
            }
            BlockKind::Choose(e) => {
                let v = self.expr(e, env)?;
                if let Some(s) = v.as_str() {
                    if let Some(a) = b.actions.iter().find(|a| a.label.as_deref() == Some(s)) {
                        self.action(a, env)?;
                    }
                }
            }
        }
        Ok(true)
    }

    fn action(&mut self, a: &Action, env: &Arc<Frame>) -> R<()> {
        let result = self.run_action(a, env).map_err(|e| e.at(a.span))?;
        if let Some(slot) = a.setting {
            env_set_rule(env, slot, result);
        }
        Ok(())
    }

    fn run_action(&mut self, a: &Action, env: &Arc<Frame>) -> R<Value> {
        match &a.target {
            ActionTarget::Native(call) => self.native_action(call, env),
            ActionTarget::Value(e) => {
                let f = self.expr(e, env)?;
                let args = self.bind_args(&f, &a.args, env)?;
                self.call_action(&f, args)
            }
            ActionTarget::ModuleMember(i, name) => {
                let f = self.module_member(*i, name)?;
                let args = self.bind_args(&f, &a.args, env)?;
                self.call_action(&f, args)
            }
        }
    }

    fn call_action(&mut self, f: &Value, args: Vec<Value>) -> R<Value> {
        stacker::maybe_grow(128 * 1024, 2 << 20, || self.call_action_inner(f, args))
    }

    fn call_action_inner(&mut self, f: &Value, args: Vec<Value>) -> R<Value> {
        let Value::Action(c) = f else {
            return Err(RuntimeError::type_error(format!(
                "{} is not an action",
                f.to_krl_string()
            )));
        };
        let Some(d) = c.as_any().and_then(|a| a.downcast_ref::<DefactionValue>()) else {
            return c.call(self, args);
        };
        self.enter()?;
        let owner = d.owner.clone();
        let saved = std::mem::replace(&mut self.inst, owner);
        let frame = Frame::new(d.def.frame_size, Some(d.env.clone()));
        let r = (|| {
            self.bind_params(&d.def.params, &d.def.defaults, args, &frame)?;
            for (slot, e) in &d.def.body {
                let v = self.expr(e, &frame)?;
                frame.set(*slot, v);
            }
            self.action_block(&d.def.actions, &frame)?;
            match &d.def.result {
                Some(e) => self.expr(e, &frame),
                None => Ok(Value::Null),
            }
        })();
        self.inst = saved;
        self.depth -= 1;
        r
    }

    // ------------------------------------------------------------ postlude

    /// Runs postlude statements; `last_iteration` is for `on final`.
    pub fn stmts(&mut self, stmts: &[Guarded], env: &Arc<Frame>, last_iteration: bool) -> R<Flow> {
        for g in stmts {
            if g.on_final && !last_iteration {
                if let Stmt::Decl(slot, _) = &g.stmt {
                    env_set_rule(env, *slot, Value::Null);
                }
                continue;
            }
            if let Some(c) = &g.guard_if {
                if !self.expr(c, env)?.truthy() {
                    if let Stmt::Decl(slot, _) = &g.stmt {
                        env_set_rule(env, *slot, Value::Null);
                    }
                    continue;
                }
            }
            let flow = self.stmt(&g.stmt, env).map_err(|e| e.at(g.span))?;
            if flow != Flow::Next {
                return Ok(flow);
            }
        }
        Ok(Flow::Next)
    }

    fn stmt(&mut self, s: &Stmt, env: &Arc<Frame>) -> R<Flow> {
        let rid = self.compiled().rid.clone();
        match s {
            Stmt::Decl(slot, e) => {
                let v = self.expr(e, env)?;
                env_set_rule(env, *slot, v);
            }
            Stmt::Assign {
                scope,
                name,
                path,
                value,
            } => {
                let value = match value {
                    Some(e) => Some(self.expr(e, env)?),
                    None => None,
                };
                match path {
                    None => {
                        self.persistent_put(*scope, &rid, name, value.filter(|v| !v.is_null()))?
                    }
                    Some(p) => {
                        let p = self.expr(p, env)?;
                        let current = self.persistent_get(*scope, name)?;
                        let updated = match value {
                            Some(v) => path_set(&current, &p, v),
                            None => path_delete(&current, &p),
                        };
                        self.persistent_put(*scope, &rid, name, Some(updated))?;
                    }
                }
            }
            Stmt::Increment {
                scope,
                name,
                subtract,
                by,
                from,
            } => {
                let current = self.persistent_get(*scope, name)?;
                let v = if current.is_null() {
                    self.expr(from, env)?
                } else {
                    let n = self.expr(by, env)?;
                    if *subtract {
                        ops::sub(&current, &n)?
                    } else {
                        ops::add(&current, &n)?
                    }
                };
                self.persistent_put(*scope, &rid, name, Some(v))?;
            }
            Stmt::Raise {
                domain,
                event_type,
                for_rid,
                attributes,
            } => {
                let t = self.expr(event_type, env)?.to_krl_string();
                let (d, t) = match domain {
                    Some(d) => (d.to_string(), t),
                    None => split_domain_type(&t)?,
                };
                let attrs = match attributes {
                    None => Map::new(),
                    Some(a) => match self.expr(a, env)? {
                        Value::Null => Map::new(),
                        Value::Map(m) => (*m).clone(),
                        other => {
                            return Err(RuntimeError::type_error(format!(
                                "raise attributes must be a map, not {}",
                                other.type_name()
                            )))
                        }
                    },
                };
                let only = match for_rid {
                    Some(r) => Some(Arc::from(self.expr(r, env)?.to_krl_string().as_str())),
                    None => None,
                };
                self.raise(d, t, attrs, only)?;
            }
            Stmt::Schedule {
                domain,
                event_type,
                at,
                repeat,
                attributes,
                setting,
            } => {
                let t = self.expr(event_type, env)?.to_krl_string();
                let (d, t) = match domain {
                    Some(d) => (d.to_string(), t),
                    None => split_domain_type(&t)?,
                };
                let attrs = match attributes {
                    None => Value::from(Map::new()),
                    Some(a) => match self.expr(a, env)? {
                        Value::Null => Value::from(Map::new()),
                        m @ Value::Map(_) => m,
                        other => {
                            return Err(RuntimeError::type_error(format!(
                                "schedule attributes must be a map, not {}",
                                other.type_name()
                            )))
                        }
                    },
                };
                let eci = self.event.as_ref().map_or(String::new(), |e| e.eci.clone());
                let mut event = Map::new();
                event.insert(Arc::from("eci"), Value::from(eci));
                event.insert(Arc::from("domain"), Value::from(d));
                event.insert(Arc::from("name"), Value::from(t));
                let mut data = Map::new();
                data.insert(Arc::from("attrs"), attrs);
                event.insert(Arc::from("data"), Value::from(data));
                let mut entry = Map::new();
                entry.insert(Arc::from("id"), Value::from(self.txn.host.new_id()));
                match (at, repeat) {
                    (Some(at), _) => {
                        let when = self.expr(at, env)?;
                        let ms = schedule_time(&when, self.txn.host.now_ms())?;
                        entry.insert(Arc::from("type"), Value::from("at"));
                        entry.insert(Arc::from("time"), Value::number(ms));
                    }
                    (None, Some(cron)) => {
                        let spec = self.expr(cron, env)?.to_krl_string();
                        entry.insert(Arc::from("type"), Value::from("repeat"));
                        entry.insert(Arc::from("timespec"), Value::from(spec));
                    }
                    (None, None) => unreachable!("the grammar requires at or repeat"),
                }
                entry.insert(Arc::from("event"), Value::from(event));
                let entry = Value::from(entry);
                self.txn.host.schedule_add(&rid, &entry)?;
                if let Some(slot) = setting {
                    env_set_rule(env, *slot, entry);
                }
            }
            Stmt::Log(level, e) => {
                let v = self.expr(e, env)?;
                let text = v.to_krl_string();
                self.txn.host.log(&rid, *level, &text);
            }
            Stmt::Error(level, e) => {
                let data = self.expr(e, env)?;
                let mut attrs = Map::new();
                let lv = match level {
                    Level::Error => "error",
                    Level::Warn => "warn",
                    Level::Info => "info",
                    Level::Debug => "debug",
                };
                attrs.insert(Arc::from("level"), Value::from(lv));
                attrs.insert(Arc::from("data"), data);
                attrs.insert(Arc::from("rid"), Value::from(&*rid));
                attrs.insert(
                    Arc::from("rule_name"),
                    self.rule_name
                        .as_ref()
                        .map_or(Value::Null, |r| Value::from(&**r)),
                );
                attrs.insert(Arc::from("genus"), Value::from("user"));
                if *level == Level::Error {
                    self.txn.queue.clear();
                    self.raise("system".into(), "error".into(), attrs, Some(rid))?;
                    return Ok(Flow::Stop);
                }
                self.raise("system".into(), "error".into(), attrs, Some(rid))?;
            }
            Stmt::Last => return Ok(Flow::Last),
        }
        Ok(Flow::Next)
    }

    fn persistent_put(
        &mut self,
        scope: PersistentScope,
        rid: &str,
        name: &str,
        value: Option<Value>,
    ) -> R<()> {
        match scope {
            PersistentScope::Ent => self.txn.host.ent_put(rid, name, value.as_ref()),
            PersistentScope::App => self.txn.host.app_put(rid, name, value.as_ref()),
            PersistentScope::Session => {
                let call = self.call_sid()?;
                match self.txn.host.twilio() {
                    Some(t) => t.session_put(rid, &call, name, value.as_ref()),
                    None => Err(no_sessions(name)),
                }
            }
        }
    }

    fn raise(&mut self, domain: String, name: String, attrs: Map, only: Option<Arc<str>>) -> R<()> {
        self.txn.raised += 1;
        if self.txn.raised > self.txn.limits.max_raised {
            return Err(RuntimeError::new(format!(
                "more than {} events raised by one event (a loop?)",
                self.txn.limits.max_raised
            )));
        }
        let base = self.event.clone();
        let ev = Arc::new(Event {
            domain,
            name,
            attrs,
            eci: base.as_ref().map(|e| e.eci.clone()).unwrap_or_default(),
            eid: base.as_ref().map(|e| e.eid.clone()).unwrap_or_default(),
            time_ms: self.txn.host.now_ms(),
        });
        self.txn.queue.push_back(Queued { event: ev, only });
        Ok(())
    }
}

/// A provided module function, run in the module's instance.
struct ModuleFn {
    inner: Arc<dyn Callable>,
    module: Arc<Instance>,
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

/// The error of `session:` on a host without call sessions.
fn no_sessions(name: &str) -> RuntimeError {
    RuntimeError::new(format!(
        "not supported here: session:{name} (no call sessions)"
    ))
}

/// Slots of the rule frame may be written more than once across foreach
/// iterations; each iteration has its own frame, so a plain set is right.
fn env_set_rule(env: &Arc<Frame>, slot: u16, v: Value) {
    env.set(slot, v);
}

fn split_domain_type(s: &str) -> R<(String, String)> {
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    match compact.split_once(':') {
        Some((d, t)) if !d.is_empty() && !t.is_empty() => Ok((d.to_string(), t.to_string())),
        _ => Err(RuntimeError::new(format!(
            "raise event needs \"domain:type\", got {s:?}"
        ))),
    }
}

/// `a OP b` for the operators that are library functions.
pub fn binary(op: BinOp, a: &Value, b: &Value) -> R<Value> {
    Ok(match op {
        BinOp::Add => ops::add(a, b)?,
        BinOp::Sub => ops::sub(a, b)?,
        BinOp::Mul => ops::mul(a, b)?,
        BinOp::Div => ops::div(a, b)?,
        BinOp::Mod => ops::rem(a, b)?,
        BinOp::Eq => Value::Bool(a == b),
        BinOp::Ne => Value::Bool(a != b),
        BinOp::Lt => ops::lt(a, b)?,
        BinOp::Le => ops::le(a, b)?,
        BinOp::Gt => ops::gt(a, b)?,
        BinOp::Ge => ops::ge(a, b)?,
        BinOp::Cmp3 => ops::cmp3(a, b)?,
        BinOp::Cmp => ops::str_cmp(a, b)?,
        BinOp::Like => ops::like(a, b)?,
        BinOp::In => ops::contains_op(a, b)?,
        BinOp::StrEq => ops::str_eq(a, b)?,
        BinOp::StrNe => ops::str_ne(a, b)?,
        BinOp::And | BinOp::Or => unreachable!("short-circuit operators are compiled apart"),
    })
}

/// `x{path}`: a key or an array of keys (language 4.3).
pub fn path_get(v: &Value, path: &Value) -> Value {
    match path {
        Value::Array(keys) => {
            let mut cur = v.clone();
            for k in keys.iter() {
                cur = key_get(&cur, &k.to_krl_string());
                if cur.is_null() {
                    break;
                }
            }
            cur
        }
        k => key_get(v, &k.to_krl_string()),
    }
}

/// One key of a map or index of an array; null when missing.
pub fn key_get(v: &Value, key: &str) -> Value {
    match v {
        Value::Map(m) => m.get(key).cloned().unwrap_or(Value::Null),
        Value::Array(a) => key
            .parse::<usize>()
            .ok()
            .and_then(|i| a.get(i).cloned())
            .unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

fn path_keys(path: &Value) -> Vec<String> {
    match path {
        Value::Array(keys) => keys.iter().map(Value::to_krl_string).collect(),
        k => vec![k.to_krl_string()],
    }
}

/// Sets `value` at `path` in `v`, creating maps as needed (language 7.2).
pub fn path_set(v: &Value, path: &Value, value: Value) -> Value {
    set_in(v, &path_keys(path), value)
}

fn set_in(v: &Value, keys: &[String], value: Value) -> Value {
    let Some((first, rest)) = keys.split_first() else {
        return value;
    };
    match v {
        Value::Array(a) => {
            if let Ok(i) = first.parse::<usize>() {
                let mut a = (**a).clone();
                if i < a.len() {
                    a[i] = set_in(&a[i], rest, value);
                    return Value::from(a);
                }
            }
            let mut m = Map::new();
            for (i, x) in a.iter().enumerate() {
                m.insert(Arc::from(i.to_string().as_str()), x.clone());
            }
            let child = set_in(m.get(first.as_str()).unwrap_or(&Value::Null), rest, value);
            m.insert(Arc::from(first.as_str()), child);
            Value::from(m)
        }
        Value::Map(m) => {
            let mut m = (**m).clone();
            let child = set_in(m.get(first.as_str()).unwrap_or(&Value::Null), rest, value);
            m.insert(Arc::from(first.as_str()), child);
            Value::from(m)
        }
        _ => {
            let mut m = Map::new();
            m.insert(Arc::from(first.as_str()), set_in(&Value::Null, rest, value));
            Value::from(m)
        }
    }
}

/// Removes the entry at `path` (language 7.2 `clear ent:x{path}`).
pub fn path_delete(v: &Value, path: &Value) -> Value {
    fn del(v: &Value, keys: &[String]) -> Value {
        let Some((first, rest)) = keys.split_first() else {
            return v.clone();
        };
        match v {
            Value::Map(m) => {
                let mut m = (**m).clone();
                if rest.is_empty() {
                    m.shift_remove(first.as_str());
                } else if let Some(child) = m.get(first.as_str()).cloned() {
                    m.insert(Arc::from(first.as_str()), del(&child, rest));
                }
                Value::from(m)
            }
            Value::Array(a) => {
                let mut a = (**a).clone();
                if let Ok(i) = first.parse::<usize>() {
                    if i < a.len() {
                        if rest.is_empty() {
                            a.remove(i);
                        } else {
                            a[i] = del(&a[i], rest);
                        }
                    }
                }
                Value::from(a)
            }
            other => other.clone(),
        }
    }
    del(v, &path_keys(path))
}

/// A schedule time: ms since the epoch, or a date string as
/// [`crate::runtime::time::parse_ms`] reads it (times of day are of today,
/// `now_ms`).
fn schedule_time(v: &Value, now_ms: f64) -> R<f64> {
    match v {
        Value::Number(n) => Ok(*n),
        Value::Str(s) => crate::runtime::time::parse_ms(s, now_ms)
            .map(|ms| ms as f64)
            .ok_or_else(|| RuntimeError::new(format!("schedule at: not a date or time: {s:?}"))),
        other => Err(RuntimeError::type_error(format!(
            "schedule at needs a time (ms or an ISO date), not {}",
            other.type_name()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_times_are_ms_or_dates_the_time_module_reads() {
        let at = |v: Value| schedule_time(&v, 1_715_947_200_000.0).map_err(|e| e.to_string());
        assert_eq!(
            at(Value::number(1_700_000_000_123.0)),
            Ok(1_700_000_000_123.0)
        );
        assert_eq!(at(Value::from("2017-01-01")), Ok(1_483_228_800_000.0));
        assert_eq!(
            at(Value::from("2017-01-01T01:00:00+01:00")),
            Ok(1_483_228_800_000.0)
        );
        assert_eq!(at(Value::from("2017-1-1T1:00+1")), Ok(1_483_228_800_000.0));
        // time:new's forms too: a week date, a time of today
        assert_eq!(
            at(Value::from("2011W206T1345-0600")),
            Ok(1_306_007_100_000.0)
        );
        assert_eq!(at(Value::from("08:30")), Ok(1_715_934_600_000.0));
        assert_eq!(
            at(Value::from("nope")),
            Err(r#"schedule at: not a date or time: "nope""#.to_string())
        );
        assert!(at(Value::Bool(true)).is_err());
    }

    #[test]
    fn paths_set_and_delete() {
        let v = Value::Null;
        let p = Value::from(vec![Value::from("ui"), Value::from("theme")]);
        let set = path_set(&v, &p, Value::from("dark"));
        assert_eq!(set.to_json(), serde_json::json!({"ui": {"theme": "dark"}}));
        let list = Value::from_json(&serde_json::json!([{"id": "one"}, {"id": "two"}]));
        let p = Value::from_json(&serde_json::json!([1, "other"]));
        assert_eq!(
            path_set(&list, &p, Value::from("thing")).to_json(),
            serde_json::json!([{"id": "one"}, {"id": "two", "other": "thing"}])
        );
        let m = Value::from_json(&serde_json::json!({"a": 1, "b": {"c": 2, "d": 3}}));
        let p = Value::from_json(&serde_json::json!(["b", "c"]));
        assert_eq!(
            path_delete(&m, &p).to_json(),
            serde_json::json!({"a": 1, "b": {"d": 3}})
        );
    }
}
