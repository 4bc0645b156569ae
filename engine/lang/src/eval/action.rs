//! Action blocks: every/sample/choose, defactions, native actions.

use super::postlude::env_set_rule;
use super::values::DefactionValue;
use super::*;

impl<'t, 'h> Eval<'t, 'h> {
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

    pub(super) fn action(&mut self, a: &Action, env: &Arc<Frame>) -> R<()> {
        let result = self.run_action(a, env).map_err(|e| e.at(a.span))?;
        if let Some(slot) = a.setting {
            env_set_rule(env, slot, result);
        }
        Ok(())
    }

    pub(super) fn run_action(&mut self, a: &Action, env: &Arc<Frame>) -> R<Value> {
        match &a.target {
            ActionTarget::Native(call) => self.native_action(call, env, a.setting.is_some()),
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

    pub(super) fn call_action(&mut self, f: &Value, args: Vec<Value>) -> R<Value> {
        stacker::maybe_grow(128 * 1024, 2 << 20, || self.call_action_inner(f, args))
    }

    pub(super) fn call_action_inner(&mut self, f: &Value, args: Vec<Value>) -> R<Value> {
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
}
