//! One pico's installed rulesets: installing them (keys, configuration,
//! modules, globals), processing events (selection, rule bodies, raised
//! events, the modules' after-event hooks) and answering queries.

use super::error::{EvalError, QueryError};
use super::{registry, Event, Host, Instance, Limits, Ruleset};
use crate::compile::ir::{self, Selector, When};
use crate::eval::{Eval, Flow, Frame, Queued, Txn};
use crate::host::Directive;
use crate::runtime::select::EventView;
use crate::runtime::{ErrorKind, Map, RuntimeError, Value};
use crate::syntax::ast::Span;
use std::collections::VecDeque;
use std::sync::Arc;

/// What an event produced.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Directives in production order.
    pub directives: Vec<Directive>,
}

/// One pico's installed rulesets, in installation order.
#[derive(Default)]
pub struct PicoRuntime {
    /// The pico's id (`meta:picoId`).
    pub pico_id: Arc<str>,
    instances: Vec<Arc<Instance>>,
    /// Bounds for each evaluation.
    pub limits: Limits,
}

impl PicoRuntime {
    /// An empty pico.
    pub fn new(pico_id: &str) -> PicoRuntime {
        PicoRuntime {
            pico_id: Arc::from(pico_id),
            instances: Vec::new(),
            limits: Limits::default(),
        }
    }

    /// Installed rids in order.
    pub fn installed(&self) -> Vec<&str> {
        self.instances.iter().map(|i| &*i.compiled.rid).collect()
    }

    /// Installs (or re-instantiates) `ruleset` with `config`: evaluates its
    /// keys and globals. `modules` resolves `use module` rids.
    pub fn install(
        &mut self,
        ruleset: Arc<Ruleset>,
        config: Value,
        modules: &dyn Fn(&str) -> Option<Arc<Ruleset>>,
        host: &mut dyn Host,
    ) -> Result<(), EvalError> {
        let inst = self.instantiate(&ruleset, config, &Map::new(), modules, host, 0)?;
        match self
            .instances
            .iter()
            .position(|i| i.compiled.rid == inst.compiled.rid)
        {
            Some(i) => self.instances[i] = inst,
            None => self.instances.push(inst),
        }
        Ok(())
    }

    /// Removes a ruleset (its variables are the engine's to drop).
    pub fn uninstall(&mut self, rid: &str) {
        self.instances.retain(|i| &*i.compiled.rid != rid);
    }

    fn instantiate(
        &self,
        ruleset: &Arc<Ruleset>,
        config: Value,
        overrides: &Map,
        modules: &dyn Fn(&str) -> Option<Arc<Ruleset>>,
        host: &mut dyn Host,
        depth: usize,
    ) -> Result<Arc<Instance>, EvalError> {
        let rid = ruleset.rid().to_string();
        let fail = |e: RuntimeError, span: Option<Span>| {
            let (line, col) = match span {
                Some(s) => {
                    let (l, c) = ruleset.line_col(s);
                    (Some(l), Some(c))
                }
                None => (None, None),
            };
            EvalError {
                rid: rid.clone(),
                rule: None,
                line,
                col,
                message: e.message,
                kind: e.kind,
            }
        };
        if depth > 16 {
            return Err(fail(
                RuntimeError::new("modules nested too deeply (a cycle?)"),
                None,
            ));
        }
        let compiled = ruleset.compiled.clone();
        let globals = Frame::new(compiled.global_frame_size, None);
        let inst_config = config.clone();
        let mut inst = Instance {
            compiled: compiled.clone(),
            ruleset: ruleset.clone(),
            globals: globals.clone(),
            config,
            keys: Map::new(),
            modules: Vec::new(),
            module_config: Vec::new(),
        };
        let mut txn = Txn {
            host,
            directives: Vec::new(),
            queue: VecDeque::new(),
            pico_id: self.pico_id.clone(),
            txn_id: Arc::from("install"),
            limits: self.limits,
            ops: 0,
            raised: 0,
            in_query: false,
            query_call_sid: None,
        };
        // Until the instance is complete, expressions run in a shell that
        // has what is known so far (keys first: configuration, `use module
        // ... with` and `twiliokeys` may read them).
        let shell = |keys: &Map| {
            Arc::new(Instance {
                compiled: compiled.clone(),
                ruleset: ruleset.clone(),
                globals: globals.clone(),
                config: inst_config.clone(),
                keys: keys.clone(),
                modules: Vec::new(),
                module_config: Vec::new(),
            })
        };
        {
            let mut ev = Eval {
                txn: &mut txn,
                inst: shell(&Map::new()),
                event: None,
                rule_name: None,
                depth: 0,
            };
            for (name, e) in &compiled.keys {
                let v = ev.expr(e, &globals).map_err(|e| {
                    let span = e.span;
                    fail(e, span)
                })?;
                inst.keys.insert(name.clone(), v);
            }
        }
        let mut ev = Eval {
            txn: &mut txn,
            inst: shell(&inst.keys),
            event: None,
            rule_name: None,
            depth: 0,
        };
        // configuration: `with` overrides, else the defaults
        for (name, slot, default) in &compiled.configure {
            let v = match overrides.get(&**name) {
                Some(v) => v.clone(),
                None => ev.expr(default, &globals).map_err(|e| {
                    let span = e.span;
                    fail(e, span)
                })?,
            };
            globals.set(*slot, v);
        }
        // modules, configured with `with` (evaluated here)
        for u in &compiled.uses {
            let module = modules(&u.rid).ok_or_else(|| {
                fail(
                    RuntimeError::new(format!("Dependant module not loaded: {}", u.rid)),
                    None,
                )
            })?;
            let mut with = Map::new();
            for (k, e) in &u.with {
                let v = ev.expr(e, &globals).map_err(|e| {
                    let span = e.span;
                    fail(e, span)
                })?;
                with.insert(k.clone(), v);
            }
            let host2: &mut dyn Host = &mut *ev.txn.host;
            let m = self.instantiate(&module, Value::Null, &with, modules, host2, depth + 1)?;
            inst.modules.push(m);
        }
        // classic `use module a8x115 ... with twiliokeys = keys:twilio()`
        for (domain, with) in &compiled.native_uses {
            let mut options = Map::new();
            for (name, e) in with {
                let v = ev.expr(e, &globals).map_err(|e| {
                    let span = e.span;
                    fail(e, span)
                })?;
                options.insert(name.clone(), v);
            }
            inst.module_config.push((domain, options));
        }
        drop(ev);
        let inst = Arc::new(inst);
        let mut ev = Eval {
            txn: &mut txn,
            inst: inst.clone(),
            event: None,
            rule_name: None,
            depth: 0,
        };
        for (slot, e) in &compiled.globals {
            let v = ev.expr(e, &globals).map_err(|e| {
                let span = e.span;
                fail(e, span)
            })?;
            globals.set(*slot, v);
        }
        Ok(inst)
    }

    /// Processes one event: every installed ruleset, then raised events,
    /// breadth first (docs/spec/krl-language.md 9.2).
    pub fn event(
        &mut self,
        event: impl Into<Arc<Event>>,
        txn_id: &str,
        host: &mut dyn Host,
    ) -> Result<Outcome, EvalError> {
        let event: Arc<Event> = event.into();
        let mut txn = Txn {
            host,
            directives: Vec::new(),
            queue: VecDeque::new(),
            pico_id: self.pico_id.clone(),
            txn_id: Arc::from(txn_id),
            limits: self.limits,
            ops: 0,
            raised: 0,
            in_query: false,
            query_call_sid: None,
        };
        let mut schedule: VecDeque<(usize, Arc<Event>)> = (0..self.instances.len())
            .map(|i| (i, event.clone()))
            .collect();
        while let Some((i, ev)) = schedule.pop_front() {
            let inst = self.instances[i].clone();
            self.run_ruleset(&inst, ev, &mut txn)?;
            // raised events go to the end, for every (or one) ruleset
            while let Some(q) = txn.queue.pop_front() {
                let Queued { event, only, .. } = q;
                for (j, other) in self.instances.iter().enumerate() {
                    if only.as_deref().is_none_or(|r| r == &*other.compiled.rid) {
                        schedule.push_back((j, event.clone()));
                    }
                }
            }
        }
        // the modules' hooks (a completed call loses its session)
        after_event(&event, &mut *txn.host).map_err(|message| EvalError {
            rid: self
                .instances
                .first()
                .map_or_else(String::new, |i| i.compiled.rid.to_string()),
            rule: None,
            line: None,
            col: None,
            message,
            kind: ErrorKind::Runtime,
        })?;
        Ok(Outcome {
            directives: txn.directives,
        })
    }

    fn run_ruleset(
        &self,
        inst: &Arc<Instance>,
        ev: Arc<Event>,
        txn: &mut Txn,
    ) -> Result<(), EvalError> {
        let compiled = inst.compiled.clone();
        for rule in &compiled.rules {
            let err = |e: RuntimeError| {
                let (line, col) = match e.span {
                    Some(s) => {
                        let (l, c) = inst.ruleset.line_col(s);
                        (Some(l), Some(c))
                    }
                    None => {
                        let (l, c) = inst.ruleset.line_col(rule.span);
                        (Some(l), Some(c))
                    }
                };
                EvalError {
                    rid: compiled.rid.to_string(),
                    rule: Some(rule.name.to_string()),
                    line,
                    col,
                    message: e.message,
                    kind: e.kind,
                }
            };
            let frame = Frame::new(rule.frame_size, Some(inst.globals.clone()));
            let mut eval = Eval {
                txn,
                inst: inst.clone(),
                event: Some(ev.clone()),
                rule_name: Some(rule.name.clone()),
                depth: 0,
            };
            let fired = match &rule.select {
                Selector::Never => false,
                Selector::Where(e) => eval.expr(e, &frame).map_err(err)?.truthy(),
                Selector::When { matcher, wheres } => {
                    if !matcher.salient(&ev.domain, &ev.name) {
                        continue;
                    }
                    let before = eval.txn.host.rule_state(&compiled.rid, &rule.name);
                    let mut state = before.clone().unwrap_or_default();
                    let view = EventView {
                        domain: &ev.domain,
                        name: &ev.name,
                        attrs: &ev.attrs,
                        time_ms: ev.time_ms,
                    };
                    let slots = &rule.setting_slots;
                    let globals = inst.globals.clone();
                    let stepped = {
                        let eval_ref = &mut eval;
                        matcher.step(&mut state, &view, &mut |i, bindings| {
                            let f = Frame::new(rule.frame_size, Some(globals.clone()));
                            for (name, v) in bindings {
                                if let Some((_, s)) = slots.iter().find(|(n, _)| n == name) {
                                    f.set(*s, v.clone());
                                }
                            }
                            Ok(eval_ref.expr(&wheres[i], &f)?.truthy())
                        })
                    };
                    let bindings = stepped.map_err(err)?;
                    // write only a changed state: most events leave it as it was
                    if before.unwrap_or_default() != state {
                        eval.txn
                            .host
                            .set_rule_state(&compiled.rid, &rule.name, &state);
                    }
                    match bindings {
                        None => false,
                        Some(b) => {
                            for (name, v) in b {
                                if let Some((_, s)) = slots.iter().find(|(n, _)| *n == name) {
                                    frame.set(*s, v);
                                }
                            }
                            true
                        }
                    }
                }
            };
            if !fired {
                continue;
            }
            match run_body(&mut eval, rule, &frame).map_err(err)? {
                Flow::Next => {}
                Flow::Last | Flow::Stop => break,
            }
        }
        Ok(())
    }

    /// Runs a shared function (or reads a shared value) of `rid`.
    pub fn query(
        &mut self,
        rid: &str,
        name: &str,
        args: &Map,
        host: &mut dyn Host,
    ) -> Result<Value, QueryError> {
        let inst = self
            .instances
            .iter()
            .find(|i| &*i.compiled.rid == rid)
            .cloned()
            .ok_or_else(|| QueryError::NotInstalled(rid.to_string()))?;
        if !inst.compiled.shares.iter().any(|s| &**s == name) && name != "__testing" {
            return Err(QueryError::NotShared(rid.to_string(), name.to_string()));
        }
        let Some(slot) = inst.compiled.global(name) else {
            if name == "__testing" {
                return Ok(inst.compiled.testing.clone());
            }
            return Err(QueryError::NotShared(rid.to_string(), name.to_string()));
        };
        let value = inst.globals.get(ir::Slot { up: 0, index: slot });
        let mut txn = Txn {
            host,
            directives: Vec::new(),
            queue: VecDeque::new(),
            pico_id: self.pico_id.clone(),
            txn_id: Arc::from("query"),
            limits: self.limits,
            ops: 0,
            raised: 0,
            in_query: true,
            query_call_sid: match args.get("CallSid") {
                Some(Value::Str(s)) if !s.is_empty() => Some(s.clone()),
                _ => None,
            },
        };
        let mut eval = Eval {
            txn: &mut txn,
            inst: inst.clone(),
            event: None,
            rule_name: None,
            depth: 0,
        };
        match &value {
            Value::Function(c) => {
                let params = c.params().to_vec();
                let a: Vec<Value> = params
                    .iter()
                    .map(|p| args.get(&**p).cloned().unwrap_or(Value::Null))
                    .collect();
                eval.call_value(&value, a, Span::default()).map_err(|e| {
                    let (line, col) = e.span.map_or((None, None), |s| {
                        let (l, c) = inst.ruleset.line_col(s);
                        (Some(l), Some(c))
                    });
                    QueryError::Runtime(EvalError {
                        rid: rid.to_string(),
                        rule: None,
                        line,
                        col,
                        message: e.message,
                        kind: e.kind,
                    })
                })
            }
            other => Ok(other.clone()),
        }
    }
}

/// Runs the native modules' after-event hooks for `event` (after its
/// rules ran; engines call it themselves after an event that failed, whose
/// other writes are dropped). Ok(true) when some module has a hook for this
/// event's domain.
pub fn after_event(event: &Event, host: &mut dyn Host) -> Result<bool, String> {
    let mut any = false;
    for m in registry().hooked() {
        if let Some(hook) = m.after_event {
            if m.domain == event.domain {
                any = true;
            }
            hook(event, host).map_err(|e| e.message)?;
        }
    }
    Ok(any)
}

/// The body of a fired rule: foreach loops around pre, actions, postlude.
fn run_body(eval: &mut Eval, rule: &ir::Rule, frame: &Arc<Frame>) -> Result<Flow, RuntimeError> {
    if rule.foreach.is_empty() {
        return run_iteration(eval, rule, frame, true);
    }
    let mut flow = Flow::Next;
    foreach_level(eval, rule, 0, frame.clone(), true, &mut flow)?;
    Ok(flow)
}

fn foreach_level(
    eval: &mut Eval,
    rule: &ir::Rule,
    level: usize,
    base: Arc<Frame>,
    last_so_far: bool,
    flow: &mut Flow,
) -> Result<(), RuntimeError> {
    let (collection, slots) = &rule.foreach[level];
    let items: Vec<(Value, Value)> = match eval.expr(collection, &base)? {
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, v)| (v.clone(), Value::Number(i as f64)))
            .collect(),
        Value::Map(m) => m
            .iter()
            .map(|(k, v)| (v.clone(), Value::from(&**k)))
            .collect(),
        _ => Vec::new(),
    };
    let n = items.len();
    for (i, (v, k)) in items.into_iter().enumerate() {
        // each iteration gets its own frame, with what was bound so far
        let frame = base.fork(rule.frame_size);
        for (j, s) in slots.iter().enumerate() {
            frame.set(
                *s,
                match j {
                    0 => v.clone(),
                    1 => k.clone(),
                    _ => Value::Null,
                },
            );
        }
        let last = last_so_far && i + 1 == n;
        if level + 1 < rule.foreach.len() {
            foreach_level(eval, rule, level + 1, frame, last, flow)?;
        } else {
            *flow = run_iteration(eval, rule, &frame, last)?;
        }
        if *flow != Flow::Next {
            return Ok(());
        }
    }
    Ok(())
}

fn run_iteration(
    eval: &mut Eval,
    rule: &ir::Rule,
    frame: &Arc<Frame>,
    last: bool,
) -> Result<Flow, RuntimeError> {
    for (slot, e) in &rule.pre {
        let v = eval.expr(e, frame)?;
        frame.set(*slot, v);
    }
    let fired = match &rule.actions {
        Some(b) => eval.action_block(b, frame)?,
        None => true,
    };
    for (when, stmts) in &rule.postlude {
        let run = match when {
            When::Fired => fired,
            When::NotFired => !fired,
            When::Always => true,
        };
        if run {
            let flow = eval.stmts(stmts, frame, last)?;
            if flow != Flow::Next {
                return Ok(flow);
            }
        }
    }
    Ok(Flow::Next)
}
