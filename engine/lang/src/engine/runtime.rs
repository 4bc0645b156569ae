//! One pico's installed rulesets: installing them (keys, configuration,
//! modules, globals), processing events (selection, rule bodies, raised
//! events, the modules' after-event hooks) and answering queries.

use super::error::{EvalError, QueryError};
use super::{registry, Event, Host, Instance, Limits, Ruleset};
use crate::compile::ir::{self, Selector, When};
use crate::eval::{Eval, Flow, Frame, Queued, Txn};
use crate::host::Directive;
use crate::native::PicoChange;
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
    /// The changes of installed rulesets it made (`ctx:install`,
    /// `ctx:uninstall`), in order: the engine records them with the
    /// event's writes.
    pub changes: Vec<PicoChange>,
}

/// Finds a registered ruleset by rid (for `ctx:install`).
pub type Resolver = Arc<dyn Fn(&str) -> Option<Arc<Ruleset>> + Send + Sync>;

/// One pico's installed rulesets, in installation order.
#[derive(Default)]
pub struct PicoRuntime {
    /// The pico's id (`meta:picoId`).
    pub pico_id: Arc<str>,
    instances: Vec<Arc<Instance>>,
    /// Bounds for each evaluation.
    pub limits: Limits,
    /// Where `ctx:install` finds rulesets; without one it fails.
    pub resolver: Option<Resolver>,
}

impl PicoRuntime {
    /// An empty pico.
    pub fn new(pico_id: &str) -> PicoRuntime {
        PicoRuntime {
            pico_id: Arc::from(pico_id),
            instances: Vec::new(),
            limits: Limits::default(),
            resolver: None,
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
        let inst = self.instantiate(&ruleset, config, &Map::default(), modules, host, 0)?;
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
            keys: Map::default(),
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
            changes: Vec::new(),
            long: false,
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
                inst: shell(&Map::default()),
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
            let mut with = Map::default();
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
            let mut options = Map::default();
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
    /// breadth first (docs/spec/krl-language.md 9.2). Rulesets installed
    /// by a rule of this event (`ctx:install`) see the events raised after
    /// it; if the event fails, the installed rulesets are as before it.
    pub fn event(
        &mut self,
        event: impl Into<Arc<Event>>,
        txn_id: &str,
        host: &mut dyn Host,
    ) -> Result<Outcome, EvalError> {
        let mut before: Option<Vec<Arc<Instance>>> = None;
        let result = self.event_inner(event.into(), txn_id, host, &mut before);
        if result.is_err() {
            if let Some(instances) = before {
                self.instances = instances;
            }
        }
        result
    }

    fn event_inner(
        &mut self,
        event: Arc<Event>,
        txn_id: &str,
        host: &mut dyn Host,
        before: &mut Option<Vec<Arc<Instance>>>,
    ) -> Result<Outcome, EvalError> {
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
            changes: Vec::new(),
            long: false,
        };
        let mut made: Vec<PicoChange> = Vec::new();
        let mut schedule: VecDeque<(Arc<Instance>, Arc<Event>)> = self
            .instances
            .iter()
            .map(|i| (i.clone(), event.clone()))
            .collect();
        while let Some((scheduled, ev)) = schedule.pop_front() {
            // After a change of the installed rulesets, a scheduled turn
            // goes to the ruleset as installed now (or to none).
            let inst = if before.is_some() {
                match self
                    .instances
                    .iter()
                    .find(|i| i.compiled.rid == scheduled.compiled.rid)
                {
                    Some(i) => i.clone(),
                    None => continue,
                }
            } else {
                scheduled
            };
            self.run_ruleset(&inst, ev, &mut txn)?;
            if !txn.changes.is_empty() {
                before.get_or_insert_with(|| self.instances.clone());
                for (change, rid, rule, span) in std::mem::take(&mut txn.changes) {
                    self.make_change(&change, &mut txn).map_err(|e| {
                        let (line, col) = match self
                            .instances
                            .iter()
                            .chain(before.iter().flatten())
                            .find(|i| i.compiled.rid == rid)
                        {
                            Some(i) if span != Span::default() => {
                                let (l, c) = i.ruleset.line_col(span);
                                (Some(l), Some(c))
                            }
                            _ => (None, None),
                        };
                        EvalError {
                            rid: rid.to_string(),
                            rule: rule.as_ref().map(|r| r.to_string()),
                            line,
                            col,
                            message: e.message,
                            kind: e.kind,
                        }
                    })?;
                    made.push(change);
                }
            }
            // raised events go to the end, for every (or one) ruleset
            while let Some(q) = txn.queue.pop_front() {
                let Queued { event, only, .. } = q;
                for other in &self.instances {
                    if only.as_deref().is_none_or(|r| r == &*other.compiled.rid) {
                        schedule.push_back((other.clone(), event.clone()));
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
            changes: made,
        })
    }

    /// Makes one change asked for by a rule: instantiates a ruleset (its
    /// modules resolve to the rulesets installed here now) or removes one
    /// no other uses as a module (the Pico Engine's refusal text).
    fn make_change(&mut self, change: &PicoChange, txn: &mut Txn) -> Result<(), RuntimeError> {
        match change {
            PicoChange::Install { rid, config, .. } => {
                let ruleset = self
                    .resolver
                    .as_ref()
                    .and_then(|r| r(rid))
                    .ok_or_else(|| RuntimeError::new(format!("Ruleset not found: {rid}")))?;
                let running: Vec<Arc<Instance>> = self.instances.clone();
                let modules = move |want: &str| {
                    running
                        .iter()
                        .find(|i| &*i.compiled.rid == want)
                        .map(|i| i.ruleset.clone())
                };
                if let Some(missing) = ruleset
                    .compiled
                    .uses
                    .iter()
                    .find(|u| modules(&u.rid).is_none())
                {
                    return Err(RuntimeError::new(format!(
                        "Cannot install {rid}: it uses {} as a module, which is not installed on this pico",
                        missing.rid
                    )));
                }
                let inst = self
                    .instantiate(
                        &ruleset,
                        config.clone(),
                        &Map::default(),
                        &modules,
                        &mut *txn.host,
                        0,
                    )
                    .map_err(|e| RuntimeError {
                        kind: e.kind,
                        ..RuntimeError::new(format!("Cannot install {rid}: {}", e.message))
                    })?;
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
            PicoChange::Uninstall { rid } => {
                let users: Vec<&str> = self
                    .instances
                    .iter()
                    .filter(|i| &*i.compiled.rid != rid)
                    .filter(|i| i.compiled.uses.iter().any(|u| &*u.rid == rid))
                    .map(|i| &*i.compiled.rid)
                    .collect();
                if !users.is_empty() {
                    return Err(RuntimeError::new(format!(
                        "Cannot uninstall {rid} because {} depends on it",
                        users.join(" and ")
                    )));
                }
                self.instances.retain(|i| &*i.compiled.rid != rid);
                Ok(())
            }
        }
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
                    // A one-event match never leaves a state to read.
                    let before = if matcher.is_stateless() {
                        None
                    } else {
                        eval.txn.host.rule_state(&compiled.rid, &rule.name)
                    };
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
            eval.txn.host.rule_selected(&compiled.rid, &rule.name);
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
            changes: Vec::new(),
            long: false,
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
    eval.txn
        .host
        .rule_fired(&eval.inst.compiled.rid, &rule.name, fired);
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
