//! Expressions: constants, variables, operators, calls of closures, of
//! library functions and of native members, and persistent variables.

use super::postlude::no_sessions;
use super::values::{Closure, DefactionValue, LibraryValue, ModuleFn};
use super::*;
use crate::runtime::value::searching;
use crate::syntax::ast::BinOp;

impl<'t, 'h> Eval<'t, 'h> {
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
                let mut m = crate::runtime::map_with_capacity(entries.len());
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
            Expr::Native(call) => self.native(call, env, true),
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
                if *op == BinOp::Like {
                    return searching(self, |budget| ops::like_within(&a, &b, budget));
                }
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
                if let Expr::Persistent(PersistentScope::Ent, name) = &**target {
                    // `ent:x{path}` reads only what the path reaches.
                    let p = self.expr(path, env)?;
                    let rid = self.compiled().rid.clone();
                    return self.txn.host.ent_get_path(&rid, name, &p);
                }
                let t = self.expr(target, env)?;
                let p = self.expr(path, env)?;
                Ok(path_get(&t, &p))
            }
            Expr::Index(target, index) => {
                if let Expr::Persistent(PersistentScope::Ent, name) = &**target {
                    let i = self.expr(index, env)?;
                    let rid = self.compiled().rid.clone();
                    let key = Value::from(i.to_krl_string().as_str());
                    return self.txn.host.ent_get_path(&rid, name, &key);
                }
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
    pub(super) fn bind_args(&mut self, f: &Value, args: &Args, env: &Arc<Frame>) -> R<Vec<Value>> {
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

    pub(super) fn enter(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > self.txn.limits.max_depth {
            return Err(RuntimeError::new(format!(
                "calls nested deeper than {} (unbounded recursion?)",
                self.txn.limits.max_depth
            )));
        }
        Ok(())
    }

    pub(super) fn call_closure(
        &mut self,
        def: &FunctionDef,
        env: &Arc<Frame>,
        args: Vec<Value>,
    ) -> R<Value> {
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

    pub(super) fn bind_params(
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

    pub(super) fn persistent_get(&mut self, scope: PersistentScope, name: &str) -> R<Value> {
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
    pub(super) fn call_sid(&self) -> R<Arc<str>> {
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

    pub(super) fn module_member(&mut self, i: usize, name: &str) -> R<Value> {
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
    pub(super) fn native(&mut self, call: &NativeCall, env: &Arc<Frame>, wanted: bool) -> R<Value> {
        if matches!(call.member.kind, Kind::NoOp) {
            return Ok(Value::Null);
        }
        let mut values = Vec::with_capacity(call.args.len());
        for a in &call.args {
            values.push(self.expr(a, env)?);
        }
        let mut named = Map::default();
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
            wanted,
        };
        let m = call.member;
        let r = match m.kind {
            _ if call.bare && m.bare.is_some() => (m.bare.expect("checked"))(self, &args),
            Kind::Library(f) | Kind::LibraryAndNoOp(f) => f(self, &values),
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
            Kind::Property(p) if values.is_empty() => Ok(p()),
            Kind::Property(_) => Err(crate::native::not_supported(&call.domain, &call.name)),
            Kind::Native(f) | Kind::Action(f) | Kind::Both(f) => f(self, &args),
            Kind::NoOp => Ok(Value::Null),
        };
        r.map_err(|e| e.at(call.span))
    }

    /// A native action: its arguments evaluated, then its code (a no-op's
    /// arguments are not evaluated). `wanted`: whether its value is used
    /// (`setting`).
    pub(super) fn native_action(
        &mut self,
        call: &NativeCall,
        env: &Arc<Frame>,
        wanted: bool,
    ) -> R<Value> {
        match call.member.kind {
            Kind::LibraryAndNoOp(_) | Kind::NoOp => Ok(Value::Null),
            _ => self.native(call, env, wanted),
        }
    }
}
