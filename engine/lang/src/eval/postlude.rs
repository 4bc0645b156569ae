//! Postlude statements: declarations, persistent writes, raise,
//! schedule, log, error, last.

use super::paths::{path_delete, path_set};
use super::*;

impl<'t, 'h> Eval<'t, 'h> {
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

    pub(super) fn stmt(&mut self, s: &Stmt, env: &Arc<Frame>) -> R<Flow> {
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
                    Some(p) if *scope == PersistentScope::Ent => {
                        let p = self.expr(p, env)?;
                        self.txn.host.ent_put_path(&rid, name, &p, value.as_ref())?;
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
                let (d, t) = self.event_name(domain.as_deref(), event_type, env)?;
                let attrs = self.event_attrs("raise", attributes.as_ref(), env)?;
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
                let (d, t) = self.event_name(domain.as_deref(), event_type, env)?;
                let attrs = Value::from(self.event_attrs("schedule", attributes.as_ref(), env)?);
                let eci = self.event.as_ref().map_or(String::new(), |e| e.eci.clone());
                let mut event = Map::default();
                event.insert(Arc::from("eci"), Value::from(eci));
                event.insert(Arc::from("domain"), Value::from(d));
                event.insert(Arc::from("name"), Value::from(t));
                let mut data = Map::default();
                data.insert(Arc::from("attrs"), attrs);
                event.insert(Arc::from("data"), Value::from(data));
                let mut entry = Map::default();
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
                let mut attrs = Map::default();
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

    /// The domain and type of a raised or scheduled event (`raise d event
    /// t`, or `raise event "d:t"`).
    fn event_name(
        &mut self,
        domain: Option<&str>,
        event_type: &Expr,
        env: &Arc<Frame>,
    ) -> R<(String, String)> {
        let t = self.expr(event_type, env)?.to_krl_string();
        match domain {
            Some(d) => Ok((d.to_string(), t)),
            None => split_domain_type(&t),
        }
    }

    /// The attributes of a raised or scheduled event: a map, or none.
    fn event_attrs(&mut self, what: &str, attributes: Option<&Expr>, env: &Arc<Frame>) -> R<Map> {
        match attributes {
            None => Ok(Map::default()),
            Some(a) => match self.expr(a, env)? {
                Value::Null => Ok(Map::default()),
                Value::Map(m) => Ok((*m).clone()),
                other => Err(RuntimeError::type_error(format!(
                    "{what} attributes must be a map, not {}",
                    other.type_name()
                ))),
            },
        }
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

    pub(super) fn raise(
        &mut self,
        domain: String,
        name: String,
        attrs: Map,
        only: Option<Arc<str>>,
    ) -> R<()> {
        self.txn.raised += 1;
        if self.txn.raised > self.txn.limits.max_raised {
            return Err(RuntimeError::new(format!(
                "more than {} events raised by one event (a loop?)",
                self.txn.limits.max_raised
            )));
        }
        self.txn
            .host
            .event_raised(&domain, &name, &attrs, only.as_deref());
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

/// The error of `session:` on a host without call sessions.
pub(super) fn no_sessions(name: &str) -> RuntimeError {
    RuntimeError::new(format!(
        "not supported here: session:{name} (no call sessions)"
    ))
}

/// Slots of the rule frame may be written more than once across foreach
/// iterations; each iteration has its own frame, so a plain set is right.
pub(super) fn env_set_rule(env: &Arc<Frame>, slot: u16, v: Value) {
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
}
