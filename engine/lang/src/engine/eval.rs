//! The evaluator: runs compiled expressions, actions and postludes against
//! a frame chain. One `Eval` per ruleset turn; the evaluation-wide state
//! (host, directives, the event queue, the work budget) is in [`Txn`].

use super::compile::Compiled;
use super::ir::*;
use super::{Directive, Event, Host, Instance, Limits};
use crate::runtime::modules;
use crate::runtime::stdlib::{self, ops, Builtin};
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
struct BuiltinValue(&'static Builtin, Vec<Arc<str>>);

impl Callable for BuiltinValue {
    fn name(&self) -> &str {
        self.0.name
    }
    fn params(&self) -> &[Arc<str>] {
        &self.1
    }
    fn call(&self, cx: &mut dyn Context, args: Vec<Value>) -> Result<Value, RuntimeError> {
        (self.0.run)(cx, &args)
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
            Expr::Builtin(b) => Ok(Value::Function(Arc::new(BuiltinValue(
                b,
                b.params.iter().map(|p| Arc::from(*p)).collect(),
            )))),
            Expr::Persistent(scope, name) => self.persistent_get(*scope, name),
            Expr::ModuleMember(i, name) => self.module_member(*i, name),
            Expr::Member(m) => self.member(m, &[]),
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
            Expr::CallBuiltin(b, args, span) => {
                let mut values = Vec::with_capacity(args.len());
                for a in args {
                    values.push(self.expr(a, env)?);
                }
                (b.run)(self, &values).map_err(|e| e.at(*span))
            }
            Expr::CallMember(m, args, span) => {
                let mut values = Vec::with_capacity(args.len());
                for a in args {
                    values.push(self.expr(a, env)?);
                }
                self.member(m, &values).map_err(|e| e.at(*span))
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
                self.txn.host.session_get(&rid, &call, name)
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

    fn member(&mut self, m: &Member, args: &[Value]) -> R<Value> {
        let ev = self.event.clone();
        Ok(match m {
            Member::EventAttrs => ev.map_or(Value::Null, |e| Value::from(e.attrs.clone())),
            Member::EventAttr => {
                let name = args.first().map(Value::to_krl_string).unwrap_or_default();
                match ev {
                    None => Value::Null,
                    Some(e) => e.attrs.get(name.as_str()).cloned().unwrap_or_else(|| {
                        // classic: a case-insensitive fallback (language 10.7)
                        e.attrs
                            .iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case(&name))
                            .map(|(_, v)| v.clone())
                            .unwrap_or(Value::Null)
                    }),
                }
            }
            Member::EventDomain => ev.map_or(Value::Null, |e| Value::from(e.domain.as_str())),
            Member::EventName => ev.map_or(Value::Null, |e| Value::from(e.name.as_str())),
            Member::EventEci => ev.map_or(Value::Null, |e| Value::from(e.eci.as_str())),
            Member::EventEid => ev.map_or(Value::Null, |e| Value::from(e.eid.as_str())),
            Member::EventTime => ev.map_or(Value::Null, |e| Value::number(e.time_ms)),
            Member::MetaRid => Value::from(&*self.compiled().rid),
            Member::MetaPicoId => Value::from(&*self.txn.pico_id),
            Member::MetaEci => ev.map_or(Value::Null, |e| Value::from(e.eci.as_str())),
            Member::MetaTxnId => Value::from(&*self.txn.txn_id),
            Member::MetaRuleName => self
                .rule_name
                .as_ref()
                .map_or(Value::Null, |r| Value::from(&**r)),
            Member::MetaInEvent => Value::Bool(!self.txn.in_query),
            Member::MetaInQuery => Value::Bool(self.txn.in_query),
            Member::MetaConfig => self.inst.config.clone(),
            Member::MetaConst(v) => v.clone(),
            Member::Key(name) => {
                let v = self
                    .inst
                    .keys
                    .get(name)
                    .cloned()
                    .ok_or_else(|| RuntimeError::new(format!("keys:{name} not defined")))?;
                match args.first() {
                    Some(sub) => path_get(&v, sub),
                    None => v,
                }
            }
            Member::TimeNow => {
                let ms = self.txn.host.now_ms();
                modules::time::format_iso(ms).map_or(Value::Null, Value::from)
            }
            Member::ScheduleList => {
                let rid = self.compiled().rid.clone();
                Value::from(self.txn.host.schedule_list(&rid)?)
            }
            Member::Module(domain, name) => {
                if args.is_empty() {
                    if let Some(v) = modules::property(domain, name) {
                        return Ok(v);
                    }
                }
                let now_ms = self.txn.host.now_ms();
                let host = &mut *self.txn.host;
                let mut random = || host.random();
                let mut env = modules::Env {
                    now_ms,
                    random: &mut random,
                };
                match modules::call(domain, name, args, &mut env) {
                    Some(r) => r?,
                    None => {
                        return Err(RuntimeError::new(format!("not supported: {domain}:{name}")))
                    }
                }
            }
            Member::Http(method) => {
                let url = args.first().cloned().unwrap_or(Value::Null);
                let mut opts = Map::new();
                for (i, v) in args.iter().enumerate().skip(1) {
                    if let Some(k) = HTTP_OPTS.get(i - 1) {
                        opts.insert(Arc::from(*k), v.clone());
                    }
                }
                let method = method.clone();
                return self.http(&method, &url, &opts);
            }
            Member::StaticUrl => {
                let path = match args.first() {
                    Some(Value::Str(s)) => s.to_string(),
                    Some(v) => v.to_krl_string(),
                    None => return Err(RuntimeError::new("twilio:url_for needs a file path")),
                };
                return self.txn.host.static_url(&path);
            }
            Member::Unsupported(name) => {
                return Err(RuntimeError::new(format!("not supported: {name}")))
            }
        })
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
            ActionTarget::Noop => Ok(Value::Null),
            ActionTarget::SendDirective => {
                let mut pos = Vec::new();
                for p in &a.args.positional {
                    pos.push(self.expr(p, env)?);
                }
                let name = pos.first().map(Value::to_krl_string).unwrap_or_default();
                let mut options = match pos.get(1) {
                    None | Some(Value::Null) => Map::new(),
                    Some(Value::Map(m)) => (**m).clone(),
                    Some(other) => return self.directive(name, other.clone()),
                };
                // classic `with` modifiers become options
                for (k, e) in &a.args.named {
                    let v = self.expr(e, env)?;
                    match &**k {
                        "name" | "options" => {}
                        _ => {
                            if !v.is_null() {
                                options.insert(k.clone(), v);
                            }
                        }
                    }
                }
                self.directive(name, Value::from(options))
            }
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
            ActionTarget::Module(domain, name) => {
                let mut pos = Vec::new();
                for p in &a.args.positional {
                    pos.push(self.expr(p, env)?);
                }
                let mut named = Map::new();
                for (k, e) in &a.args.named {
                    let v = self.expr(e, env)?;
                    named.insert(k.clone(), v);
                }
                self.module_action(domain, name, pos, named, a.span)
            }
        }
    }

    /// Actions of the built-in modules.
    fn module_action(
        &mut self,
        domain: &str,
        name: &str,
        pos: Vec<Value>,
        named: Map,
        span: Span,
    ) -> R<Value> {
        let rid = self.compiled().rid.clone();
        let arg = |i: usize, n: &str| -> Value {
            pos.get(i)
                .cloned()
                .or_else(|| named.get(n).cloned())
                .unwrap_or(Value::Null)
        };
        match (domain, name) {
            ("http", m @ ("get" | "head" | "post" | "put" | "patch" | "delete")) => {
                let url = arg(0, "url");
                let mut opts = named.clone();
                // positional options after the url, in parameter order
                for (i, k) in HTTP_OPTS.iter().enumerate() {
                    if let Some(v) = pos.get(i + 1) {
                        opts.insert(Arc::from(*k), v.clone());
                    }
                }
                self.http(m, &url, &opts)
            }
            ("twilio", action @ ("send_sms" | "call" | "place_call" | "redirect_call")) => {
                let text = |v: Value| (!v.is_null()).then(|| v.to_krl_string());
                let mut params: Vec<(String, String)> = Vec::new();
                let mut call_sid = None;
                let action = match action {
                    "send_sms" => {
                        for (k, v) in [
                            ("To", arg(0, "to")),
                            ("From", arg(1, "from")),
                            ("Body", arg(2, "body")),
                        ] {
                            params.extend(text(v).map(|t| (k.to_string(), t)));
                        }
                        match arg(3, "media") {
                            Value::Array(urls) => params.extend(
                                urls.iter()
                                    .map(|u| ("MediaUrl".to_string(), u.to_krl_string())),
                            ),
                            v => params.extend(text(v).map(|t| ("MediaUrl".to_string(), t))),
                        }
                        "send_sms"
                    }
                    "call" | "place_call" => {
                        for (k, v) in [
                            ("To", arg(0, "to")),
                            ("From", arg(1, "from")),
                            ("Url", arg(2, "url")),
                        ] {
                            params.extend(text(v).map(|t| (k.to_string(), t)));
                        }
                        "call"
                    }
                    _ => {
                        call_sid = text(arg(0, "call_sid"));
                        params.extend(text(arg(1, "url")).map(|t| ("Url".to_string(), t)));
                        "redirect_call"
                    }
                };
                // other named options pass through (`statusCallback`, ...)
                for (k, v) in named.iter() {
                    let known = ["to", "from", "body", "media", "url", "call_sid"];
                    if !known.contains(&&**k) && !v.is_null() {
                        params.push((k.to_string(), v.to_krl_string()));
                    }
                }
                let req = super::TwilioRequest {
                    action: action.to_string(),
                    params,
                    call_sid,
                    credentials: self.twilio_credentials(),
                    eci: self.event.as_ref().map_or(String::new(), |e| e.eci.clone()),
                    rid: rid.to_string(),
                    rule: self.rule_name.as_ref().map(|r| r.to_string()),
                };
                self.txn.host.twilio_rest(&req)
            }
            ("twilio", verb) if super::TWILIO_VERBS.contains(&verb) => {
                // every attribute is one the verb takes, with a value it
                // accepts (literals were checked at registration)
                for (k, v) in named.iter() {
                    crate::twiml_attrs::check(verb, k, v).map_err(RuntimeError::new)?;
                }
                if verb == "pause" {
                    if let Some(v) = pos.first() {
                        crate::twiml_attrs::check(verb, "length", v).map_err(RuntimeError::new)?;
                    }
                }
                // options: the modifiers and named arguments (nulls dropped)
                // and the positional argument under `_arg`
                let mut options = Map::new();
                if let Some(v) = pos.first().filter(|v| !v.is_null()) {
                    options.insert(Arc::from(super::TWIML_ARG), v.clone());
                }
                for (k, v) in named.iter().filter(|(_, v)| !v.is_null()) {
                    options.insert(k.clone(), v.clone());
                }
                let verb = match verb {
                    "raw" => "raw_response",
                    "message" => "sms",
                    v => v,
                };
                let d = Directive {
                    name: Arc::from(verb),
                    options: Value::from(options),
                    rid: self.compiled().rid.clone(),
                    rule_name: self.rule_name.clone().unwrap_or_else(|| Arc::from("")),
                    txn_id: self.txn.txn_id.clone(),
                    twiml: true,
                    line_col: Some(self.inst.ruleset.line_col(span)),
                };
                self.txn.directives.push(d);
                Ok(Value::Null)
            }
            ("mqtt", action @ ("publish" | "subscribe" | "unsubscribe")) => {
                self.mqtt_action(action, &pos, &named)
            }
            ("schedule", "remove") => {
                let id = arg(0, "id").to_krl_string();
                self.txn.host.schedule_remove(&rid, Some(&id))?;
                Ok(Value::Null)
            }
            ("schedule", "clear") => {
                self.txn.host.schedule_remove(&rid, None)?;
                Ok(Value::Null)
            }
            ("event", "send") | ("ctx", "event") => {
                let (eci, domain, ev_name, attrs) = if domain == "event" {
                    let o = arg(0, "options");
                    let eci = key_get(&o, "eci");
                    let name = match key_get(&o, "name") {
                        Value::Null => key_get(&o, "type"),
                        n => n,
                    };
                    (eci, key_get(&o, "domain"), name, key_get(&o, "attrs"))
                } else {
                    (
                        arg(0, "eci"),
                        arg(1, "domain"),
                        arg(2, "name"),
                        arg(3, "attrs"),
                    )
                };
                let Value::Str(eci) = eci else {
                    return Err(RuntimeError::type_error(format!(
                        "{} is not a valid eci",
                        eci.to_krl_string()
                    )));
                };
                let attrs = match attrs {
                    Value::Map(m) => (*m).clone(),
                    _ => Map::new(),
                };
                let eid = self.txn.host.send_event(
                    &eci,
                    &domain.to_krl_string(),
                    &ev_name.to_krl_string(),
                    attrs,
                )?;
                Ok(Value::from(eid))
            }
            _ => Err(RuntimeError::new(format!("not supported: {domain}:{name}"))),
        }
    }

    /// `mqtt:publish`, `mqtt:subscribe`, `mqtt:unsubscribe`: arguments
    /// checked here (topic, filter, qos, retain), the rest is the host's.
    fn mqtt_action(&mut self, action: &str, pos: &[Value], named: &Map) -> R<Value> {
        use super::mqtt;
        let params = mqtt::params(action).unwrap_or(&[]);
        if let Some(k) = named.keys().find(|k| !params.iter().any(|p| *p == &***k)) {
            return Err(RuntimeError::new(format!(
                "mqtt:{action} has no option `{k}` (it takes {})",
                params.join(", ")
            )));
        }
        let arg = |i: usize| -> Value {
            pos.get(i)
                .cloned()
                .or_else(|| named.get(params[i]).cloned())
                .unwrap_or(Value::Null)
        };
        let text = |what: &str, v: Value| -> R<String> {
            match v {
                Value::Str(s) => Ok(s.to_string()),
                Value::Null => Err(RuntimeError::new(format!("mqtt:{action} needs a {what}"))),
                other => Err(RuntimeError::type_error(format!(
                    "mqtt:{action}: the {what} must be a string, not {}",
                    other.to_json()
                ))),
            }
        };
        match action {
            "publish" => {
                let topic = text("topic", arg(0))?;
                mqtt::check_topic(&topic)
                    .map_err(|e| RuntimeError::new(format!("mqtt:publish: {e}")))?;
                let qos = mqtt::qos(action, &arg(2), 0)?;
                let retain = match arg(3) {
                    Value::Null => false,
                    Value::Bool(b) => b,
                    other => {
                        return Err(RuntimeError::new(format!(
                            "mqtt:publish: retain must be true or false, not {}",
                            other.to_json()
                        )))
                    }
                };
                let req = mqtt::MqttPublish {
                    topic,
                    payload: mqtt::payload_text(&arg(1)),
                    qos,
                    retain,
                    rid: self.compiled().rid.to_string(),
                    rule: self.rule_name.as_ref().map(|r| r.to_string()),
                };
                self.txn.host.mqtt_publish(&req)
            }
            _ => {
                let filter = text("topic filter", arg(0))?;
                mqtt::check_filter(&filter)
                    .map_err(|e| RuntimeError::new(format!("mqtt:{action}: {e}")))?;
                if action == "subscribe" {
                    let qos = mqtt::qos(action, &arg(1), 1)?;
                    self.txn.host.mqtt_subscribe(&filter, qos)
                } else {
                    self.txn.host.mqtt_unsubscribe(&filter)
                }
            }
        }
    }

    /// `http:<method>(url, options)`: the request through the host, then
    /// `autoraise` (raise `http:<method>` with the response and a label).
    pub(crate) fn http(&mut self, method: &str, url: &Value, opts: &Map) -> R<Value> {
        let Value::Str(url) = url else {
            return Err(if url.is_null() {
                RuntimeError::new(format!("http:{method} needs a url string"))
            } else {
                RuntimeError::type_error(format!(
                    "http:{method} was given {} instead of a url string",
                    url.to_krl_string()
                ))
            });
        };
        let pairs = |v: Option<&Value>| -> Vec<(String, String)> {
            match v {
                Some(Value::Map(m)) => m
                    .iter()
                    .flat_map(|(k, v)| match v {
                        Value::Array(a) => a
                            .iter()
                            .map(|x| (format!("{k}[]"), x.to_krl_string()))
                            .collect::<Vec<_>>(),
                        v => vec![(k.to_string(), v.to_krl_string())],
                    })
                    .collect(),
                _ => Vec::new(),
            }
        };
        let mut req = super::HttpRequest {
            method: method.to_ascii_uppercase(),
            url: url.to_string(),
            qs: pairs(opts.get("qs")),
            headers: pairs(opts.get("headers")),
            parse_json: opts.get("parseJSON").is_some_and(Value::truthy),
            dont_follow_redirect: opts.get("dontFollowRedirect").is_some_and(Value::truthy),
            ..Default::default()
        };
        if let Some(j) = opts.get("json").filter(|v| !v.is_null()) {
            req.body = Some((j.to_json().to_string(), Some("application/json")));
        } else if let Some(f) = opts.get("form").filter(|v| !v.is_null()) {
            let encoded = pairs(Some(f))
                .iter()
                .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
                .collect::<Vec<_>>()
                .join("&");
            req.body = Some((encoded, Some("application/x-www-form-urlencoded")));
        } else if let Some(b) = opts.get("body").filter(|v| !v.is_null()) {
            req.body = Some((b.to_krl_string(), None));
        }
        if let Some(Value::Map(a)) = opts.get("auth") {
            let get = |k: &str| a.get(k).map(Value::to_krl_string).unwrap_or_default();
            req.auth = Some((get("username"), get("password")));
        }
        let response = self.txn.host.http(&req)?;
        if let Some(label) = opts.get("autoraise").filter(|v| !v.is_null()) {
            let mut attrs = match &response {
                Value::Map(m) => (**m).clone(),
                _ => Map::new(),
            };
            attrs.insert(Arc::from("label"), label.clone());
            self.raise("http".into(), method.to_string(), attrs, None)?;
        }
        Ok(response)
    }

    /// Twilio credentials in order (language 10.9.1): `twiliokeys` of a
    /// classic `use module a8x115 ... with`, the ruleset's `twilio` key, the
    /// install config's `account_sid`/`auth_token`; `None` leaves it to
    /// the engine's own configuration.
    fn twilio_credentials(&self) -> Option<(String, String)> {
        let pair = |m: &Value| {
            let sid = key_get(m, "account_sid");
            let token = key_get(m, "auth_token");
            (!sid.is_null() && !token.is_null())
                .then(|| (sid.to_krl_string(), token.to_krl_string()))
        };
        self.inst
            .twilio
            .get("twiliokeys")
            .and_then(pair)
            .or_else(|| self.inst.keys.get("twilio").and_then(pair))
            .or_else(|| pair(&self.inst.config))
    }

    fn directive(&mut self, name: String, options: Value) -> R<Value> {
        let d = Directive {
            name: name.into(),
            options,
            rid: self.compiled().rid.clone(),
            rule_name: self.rule_name.clone().unwrap_or_else(|| Arc::from("")),
            txn_id: self.txn.txn_id.clone(),
            twiml: false,
            line_col: None,
        };
        let v = d.to_value();
        self.txn.directives.push(d);
        Ok(v)
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
                self.txn.host.session_put(rid, &call, name, value.as_ref())
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

/// Options of the `http:` calls after the url, in parameter order (the
/// compiler binds named arguments to these positions).
pub const HTTP_OPTS: [&str; 10] = [
    "qs",
    "headers",
    "body",
    "auth",
    "json",
    "form",
    "parseJSON",
    "autoraise",
    "dontFollowRedirect",
    "autosend",
];

/// `application/x-www-form-urlencoded` encoding of one key or value.
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A schedule time: ms since the epoch, or a date string as
/// [`modules::time::parse_ms`] reads it (times of day are of today, `now_ms`).
fn schedule_time(v: &Value, now_ms: f64) -> R<f64> {
    match v {
        Value::Number(n) => Ok(*n),
        Value::Str(s) => modules::time::parse_ms(s, now_ms)
            .map(|ms| ms as f64)
            .ok_or_else(|| RuntimeError::new(format!("schedule at: not a date or time: {s:?}"))),
        other => Err(RuntimeError::type_error(format!(
            "schedule at needs a time (ms or an ISO date), not {}",
            other.type_name()
        ))),
    }
}

/// Stdlib builtins that the engine itself needs by name.
pub fn builtin(name: &str) -> Option<&'static Builtin> {
    stdlib::function(name)
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
