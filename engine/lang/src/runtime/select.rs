//! The event-expression matcher of `select when` (docs/spec/krl-language.md 5).
//!
//! An event expression compiles, once per rule, to a small
//! non-deterministic state machine ([`Matcher`], immutable and shared): a
//! `start` node, an `end` node and transitions labelled with a simple
//! expression, or with *not* / *or* of labels (only `then` makes those).
//! The construction follows the table of 5.3; every use of a
//! sub-expression gets its own copy of its nodes. Afterwards nodes that are
//! always active together (they are entered by exactly the same
//! transitions) are merged and duplicate transitions dropped, as the
//! reference does; this changes no firing, only the work per event.
//!
//! The per-(pico, ruleset, rule) state is a [`RuleState`], plain data that
//! serialises to JSON. [`Matcher::step`] runs one salient event through the
//! machine (5.5, with `within` of 5.6) and says whether the rule fires and
//! with which setting and aggregator variables. `where` clauses are
//! evaluated by the caller through a callback, by their index (source
//! order, see [`where_clauses`]).

use super::pattern::{Budget, DEFAULT_STEPS};
use super::{Map, Regex, RuntimeError, Value};
use crate::syntax::ast::{AggregateKind, EventExpr, EventKind, EventOp, Expr, Span};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;

/// The `start` node.
const START: u32 = 0;
/// The `end` node.
const END: u32 = 1;

/// `and` and `any` build one chain per ordering of their arguments; more
/// arguments than this are refused when the rule is compiled.
pub const MAX_PERMUTED_ARGS: usize = 8;

/// Upper bound on the transitions of one machine (before merging), so a
/// pathological expression fails to compile instead of eating memory.
pub const MAX_TRANSITIONS: usize = 200_000;

/// Variables by name, as the rule body (or a `where` clause) sees them.
pub type Bindings = Vec<(Arc<str>, Value)>;

/// Evaluates `where` clause `i` with the given variables: is it truthy?
pub type EvalWhere<'a> = dyn FnMut(usize, &[(Arc<str>, Value)]) -> Result<bool, RuntimeError> + 'a;

/// The parts of an event the matcher looks at.
#[derive(Clone, Copy, Debug)]
pub struct EventView<'a> {
    /// The event domain.
    pub domain: &'a str,
    /// The event type.
    pub name: &'a str,
    /// The attributes.
    pub attrs: &'a Map,
    /// When the engine accepted it, in milliseconds since the epoch.
    pub time_ms: f64,
}

/// The state of one rule's machine on one pico (docs/spec/krl-language.md 5.5).
/// Plain data: persist it as JSON between events.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct RuleState {
    /// The current nodes; empty means `{start}` (a fresh or reset state).
    pub nodes: Vec<u32>,
    /// Setting variables bound so far, in binding order: a captured string
    /// or null; an aggregator variable holds its window (an array of
    /// captured strings or nulls), reduced by its operator when read.
    pub setting: Vec<(String, serde_json::Value)>,
    /// Aggregator value lists (5.4), by variable name.
    pub aggregates: Vec<(String, Vec<Option<String>>)>,
    /// When the current partial match started (`within`, 5.6).
    pub starttime: Option<f64>,
}

impl RuleState {
    fn reset(&mut self) {
        *self = RuleState::default();
    }

    fn set(&mut self, name: &str, value: serde_json::Value) {
        match self.setting.iter_mut().find(|(k, _)| k == name) {
            Some(slot) => slot.1 = value,
            None => self.setting.push((name.to_string(), value)),
        }
    }

    fn aggregate(&mut self, name: &str) -> &mut Vec<Option<String>> {
        let i = match self.aggregates.iter().position(|(k, _)| k == name) {
            Some(i) => i,
            None => {
                self.aggregates.push((name.to_string(), Vec::new()));
                self.aggregates.len() - 1
            }
        };
        &mut self.aggregates[i].1
    }
}

/// An aggregator operator (5.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggregateOp {
    /// largest value as a number
    Max,
    /// smallest value as a number
    Min,
    /// numeric sum
    Sum,
    /// numeric mean
    Avg,
    /// the captured strings themselves
    Push,
}

impl AggregateOp {
    fn parse(op: &str) -> Option<AggregateOp> {
        Some(match op {
            "max" => AggregateOp::Max,
            "min" => AggregateOp::Min,
            "sum" => AggregateOp::Sum,
            "avg" => AggregateOp::Avg,
            "push" => AggregateOp::Push,
            _ => return None,
        })
    }

    /// The variable's value from its list of captured values.
    fn reduce(self, values: &[Option<&str>]) -> Value {
        // A value that does not convert to a number counts as 0.
        let num = |v: &Option<&str>| {
            (*v).and_then(super::value::parse_js_number)
                .filter(|n| !n.is_nan())
                .unwrap_or(0.0)
        };
        let nums = || values.iter().map(num);
        match self {
            AggregateOp::Push => Value::from(
                values
                    .iter()
                    .map(|v| v.map_or(Value::Null, Value::from))
                    .collect::<Vec<_>>(),
            ),
            _ if values.is_empty() => Value::Null,
            AggregateOp::Max => Value::number(nums().fold(f64::NEG_INFINITY, f64::max)),
            AggregateOp::Min => Value::number(nums().fold(f64::INFINITY, f64::min)),
            AggregateOp::Sum => Value::number(nums().sum()),
            AggregateOp::Avg => Value::number(nums().sum::<f64>() / values.len() as f64),
        }
    }
}

/// One attribute matcher of a simple expression.
struct AttrMatcher {
    attr: Box<str>,
    regex: Regex,
}

/// One simple event expression, as compiled.
struct Simple {
    domain: Box<str>,
    name: Box<str>,
    matchers: Vec<AttrMatcher>,
    setting: Vec<Arc<str>>,
    where_index: Option<usize>,
    aggregator: Option<(AggregateOp, Vec<Arc<str>>)>,
}

/// A transition label; `Not`/`Or` refer to other labels by index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Label {
    Simple(u32),
    Not(u32),
    Or(u32, u32),
}

/// A compiled event expression: immutable, shared by every pico running
/// the rule.
pub struct Matcher {
    simples: Vec<Simple>,
    labels: Vec<Label>,
    /// Transitions leaving node `i` are `edges[offsets[i]..offsets[i + 1]]`
    /// as `(label, target)`, in construction order.
    offsets: Vec<u32>,
    edges: Vec<(u32, u32)>,
    /// Distinct `(domain, type)` pairs, sorted.
    salience: Vec<(Box<str>, Box<str>)>,
    setting_names: Vec<Arc<str>>,
    aggregate_ops: Vec<(Arc<str>, AggregateOp)>,
    where_spans: Vec<Span>,
    within_ms: Option<f64>,
    /// [`Matcher::is_stateless`], worked out once.
    stateless: bool,
}

impl std::fmt::Debug for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// The `where` clauses of an event expression in the order
/// [`Matcher::step`] numbers them (source order).
pub fn where_clauses(expr: &EventExpr) -> Vec<&Expr> {
    expr.simple_events()
        .into_iter()
        .filter_map(|s| s.condition.as_ref())
        .collect()
}

impl Matcher {
    /// Compiles `expr`; `within_ms` is the evaluated `within` limit in
    /// milliseconds (a month is 30 days, a year 365). Fails on an invalid
    /// regex, `any n` with n outside 1..=k, `count`/`repeat` of anything but
    /// one simple expression or with 0, an unknown aggregator, `and`/`any`
    /// with more than [`MAX_PERMUTED_ARGS`] arguments, or a machine with
    /// more than [`MAX_TRANSITIONS`] transitions. The `where` clauses are
    /// numbered in the order of [`where_clauses`].
    pub fn compile(expr: &EventExpr, within_ms: Option<f64>) -> Result<Matcher, RuntimeError> {
        let mut b = Builder::default();
        let mut frag = b.build(expr)?;
        frag.optimize();

        let mut offsets = vec![0u32; frag.nodes as usize + 1];
        for &(from, _, _) in &frag.trans {
            offsets[from as usize + 1] += 1;
        }
        for i in 1..offsets.len() {
            offsets[i] += offsets[i - 1];
        }
        let mut fill = offsets.clone();
        let mut edges = vec![(0, 0); frag.trans.len()];
        for &(from, label, to) in &frag.trans {
            let slot = &mut fill[from as usize];
            edges[*slot as usize] = (label, to);
            *slot += 1;
        }

        let mut salience: Vec<(Box<str>, Box<str>)> = b
            .simples
            .iter()
            .map(|s| (s.domain.clone(), s.name.clone()))
            .collect();
        salience.sort();
        salience.dedup();

        let mut m = Matcher {
            simples: b.simples,
            labels: b.labels,
            offsets,
            edges,
            salience,
            setting_names: b.setting_names,
            aggregate_ops: b.aggregate_ops,
            where_spans: b.where_spans,
            within_ms,
            stateless: false,
        };
        m.stateless = m.within_ms.is_none()
            && m.aggregate_ops.is_empty()
            && m.edges_of(START)
                .iter()
                .all(|&(_, to)| to != START && m.edges_of(to).is_empty());
        Ok(m)
    }

    /// Does every match take one event, with nothing carried from one
    /// event to the next (no `within`, no aggregator, every transition
    /// from the start ending where none leaves)? Then the rule's state is
    /// always the fresh one and need not be read.
    pub fn is_stateless(&self) -> bool {
        self.stateless
    }

    /// Is the rule salient for events of this domain and type (5.5)?
    pub fn salient(&self, domain: &str, name: &str) -> bool {
        self.salience
            .binary_search_by(|(d, n)| (&**d, &**n).cmp(&(domain, name)))
            .is_ok()
    }

    /// The distinct `(domain, type)` pairs the rule is salient for.
    pub fn salience(&self) -> impl Iterator<Item = (&str, &str)> {
        self.salience.iter().map(|(d, n)| (&**d, &**n))
    }

    /// Every setting and aggregator variable name, first occurrence order:
    /// the variables the rule body (and each `where`) sees.
    pub fn setting_names(&self) -> &[Arc<str>] {
        &self.setting_names
    }

    /// How many `where` clauses the expression has.
    pub fn where_count(&self) -> usize {
        self.where_spans.len()
    }

    /// The spans of the `where` clauses, by index.
    pub fn where_spans(&self) -> &[Span] {
        &self.where_spans
    }

    /// The `within` limit in milliseconds.
    pub fn within_ms(&self) -> Option<f64> {
        self.within_ms
    }

    /// Nodes of the machine (after merging), `start` and `end` included.
    pub fn node_count(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Transitions of the machine (after merging).
    pub fn transition_count(&self) -> usize {
        self.edges.len()
    }

    /// The machine in text, one line per node with outgoing transitions:
    /// `start: a:b -> s2, not a:c -> start` (for tests and debugging).
    pub fn describe(&self) -> String {
        let node = |n: u32| match n {
            START => "start".to_string(),
            END => "end".to_string(),
            n => format!("s{n}"),
        };
        let mut out = String::new();
        let n = self.node_count() as u32;
        for q in std::iter::once(START).chain(2..n).chain([END]) {
            let edges = self.edges_of(q);
            if edges.is_empty() {
                continue;
            }
            let _ = write!(out, "{}:", node(q));
            for (i, &(label, to)) in edges.iter().enumerate() {
                let sep = if i == 0 { " " } else { ", " };
                let _ = write!(out, "{sep}{} -> {}", self.label_text(label), node(to));
            }
            out.push('\n');
        }
        out
    }

    fn label_text(&self, label: u32) -> String {
        match self.labels[label as usize] {
            Label::Simple(i) => {
                let s = &self.simples[i as usize];
                format!("{}:{}", s.domain, s.name)
            }
            Label::Not(l) => format!("not {}", self.label_text(l)),
            Label::Or(a, b) => format!("({} or {})", self.label_text(a), self.label_text(b)),
        }
    }

    fn edges_of(&self, node: u32) -> &[(u32, u32)] {
        let n = node as usize;
        match (self.offsets.get(n), self.offsets.get(n + 1)) {
            (Some(&a), Some(&b)) => &self.edges[a as usize..b as usize],
            _ => &[],
        }
    }

    /// Runs one event through the machine (5.5, and 5.6 when there is a
    /// `within`). Events the rule is not salient for are ignored (`None`,
    /// state untouched).
    ///
    /// `eval_where(i, bindings)` evaluates `where` clause `i` (see
    /// [`where_clauses`]) and says whether it is truthy; `bindings` are the
    /// variables of [`Matcher::setting_names`], in that order: those bound
    /// so far (this simple expression's own captures included), null for
    /// the others. If it fails, the error is returned and `state` is left
    /// as it was before the event.
    ///
    /// Returns `Some(bindings)` when the rule fires: every variable of
    /// [`Matcher::setting_names`], in that order — a captured string or
    /// null, an aggregator's value (a number for max/min/sum/avg, an array
    /// of strings for push). The setting variables are then cleared from
    /// `state`.
    pub fn step(
        &self,
        state: &mut RuleState,
        event: &EventView,
        eval_where: &mut EvalWhere<'_>,
    ) -> Result<Option<Bindings>, RuntimeError> {
        if !self.salient(event.domain, event.name) {
            return Ok(None);
        }
        if self.where_spans.is_empty() {
            return self.step_unchecked(state, event, eval_where);
        }
        let before = state.clone();
        let result = self.step_unchecked(state, event, eval_where);
        if result.is_err() {
            *state = before;
        }
        result
    }

    fn step_unchecked(
        &self,
        state: &mut RuleState,
        event: &EventView,
        eval_where: &mut EvalWhere<'_>,
    ) -> Result<Option<Bindings>, RuntimeError> {
        // 5.6: the clock.
        if let Some(limit) = self.within_ms {
            let mut starttime = state.starttime.unwrap_or(event.time_ms);
            if event.time_ms - starttime > limit {
                state.nodes = vec![START];
                state.setting.clear();
            }
            if state.nodes.contains(&START) {
                starttime = event.time_ms;
            }
            state.starttime = Some(starttime);
        }

        // 5.5 step 1: the nodes that can move, else start.
        let mut current: Vec<u32> = Vec::with_capacity(state.nodes.len());
        for &q in &state.nodes {
            if !self.edges_of(q).is_empty() && !current.contains(&q) {
                current.push(q);
            }
        }
        if current.is_empty() {
            current.push(START);
        }
        state.nodes.clone_from(&current);

        // Step 2: every transition leaving a current node.
        let mut collected: Vec<u32> = Vec::new();
        let mut cx = StepCx {
            state,
            event,
            eval_where,
        };
        for &q in &current {
            for &(label, target) in self.edges_of(q) {
                if self.eval_label(label, &mut cx)? && !collected.contains(&target) {
                    collected.push(target);
                }
            }
        }

        // Step 3 (a reset of step 4 has already happened in eval_simple).
        if collected.contains(&END) {
            // After a firing the machine restarts from `start` unless `end`
            // has transitions of its own (`repeat`). Storing that as the
            // empty (default) node list rather than `[END]` lets the engine
            // skip writing an unchanged state on every event (see the load
            // benchmark in docs/performance.md).
            state.nodes = if self.edges_of(END).is_empty() {
                Vec::new()
            } else {
                vec![END]
            };
            let bindings = self.bindings(state);
            state.setting.clear();
            Ok(Some(bindings))
        } else {
            if !collected.is_empty() {
                state.nodes = collected;
            }
            Ok(None)
        }
    }

    fn eval_label(&self, label: u32, cx: &mut StepCx) -> Result<bool, RuntimeError> {
        Ok(match self.labels[label as usize] {
            Label::Simple(i) => self.eval_simple(&self.simples[i as usize], cx)?,
            Label::Not(l) => !self.eval_label(l, cx)?,
            Label::Or(a, b) => self.eval_label(a, cx)? || self.eval_label(b, cx)?,
        })
    }

    /// 5.2, plus the side effects of 5.5 step 2 and the reset of step 4.
    fn eval_simple(&self, s: &Simple, cx: &mut StepCx) -> Result<bool, RuntimeError> {
        let ev = cx.event;
        if *s.domain != *ev.domain || *s.name != *ev.name {
            return Ok(false);
        }
        let mut captures: Vec<Option<String>> = Vec::new();
        for m in &s.matchers {
            let text: Cow<str> = match ev.attrs.get(&*m.attr) {
                None => Cow::Borrowed(""),
                Some(Value::Str(v)) => Cow::Borrowed(v),
                Some(v) => Cow::Owned(v.to_krl_string()),
            };
            // An event expression's search has its own budget
            // (pattern::DEFAULT_STEPS), not counted against `max_ops`.
            let mut budget = Budget::new(DEFAULT_STEPS);
            match m.regex.find_at(&text, 0, &mut budget)? {
                Some(found) => captures.extend(
                    found
                        .groups
                        .iter()
                        .map(|r| r.clone().map(|r| text[r].to_string())),
                ),
                None => {
                    cx.state.reset();
                    return Ok(false);
                }
            }
        }
        let capture = |k: usize| captures.get(k).cloned().flatten();
        let own: Vec<(&Arc<str>, Option<String>)> = s
            .setting
            .iter()
            .enumerate()
            .map(|(k, name)| (name, capture(k)))
            .collect();

        if let Some(w) = s.where_index {
            let mut bindings = self.bindings(cx.state);
            for (name, v) in &own {
                if let Some(slot) = bindings.iter_mut().find(|slot| slot.0 == **name) {
                    slot.1 = v.as_deref().map_or(Value::Null, Value::from);
                }
            }
            if !(cx.eval_where)(w, &bindings)? {
                cx.state.reset();
                return Ok(false);
            }
        }

        if let Some((_, names)) = &s.aggregator {
            // 5.4: restart at start, slide at end (repeat), else append.
            let at_start = cx.state.nodes.contains(&START);
            let at_end = cx.state.nodes.contains(&END);
            for (k, name) in names.iter().enumerate() {
                let value = capture(k);
                let list = cx.state.aggregate(name);
                if at_start {
                    *list = vec![value];
                } else {
                    list.push(value);
                    if at_end {
                        list.remove(0);
                    }
                }
                let window = serde_json::Value::Array(
                    list.iter()
                        .map(|v| v.clone().map_or(serde_json::Value::Null, Into::into))
                        .collect(),
                );
                cx.state.set(name, window);
            }
        }

        for (name, v) in own {
            cx.state
                .set(name, v.map_or(serde_json::Value::Null, Into::into));
        }
        Ok(true)
    }

    /// The variables as the rule body (or a `where`) sees them.
    fn bindings(&self, state: &RuleState) -> Bindings {
        self.setting_names
            .iter()
            .map(|name| {
                let value = state
                    .setting
                    .iter()
                    .find(|(k, _)| **k == **name)
                    .map_or(Value::Null, |(_, v)| self.setting_value(name, v));
                (name.clone(), value)
            })
            .collect()
    }

    fn setting_value(&self, name: &str, v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::String(s) => Value::from(s.as_str()),
            serde_json::Value::Array(window) => {
                let op = self
                    .aggregate_ops
                    .iter()
                    .find(|(n, _)| **n == *name)
                    .map_or(AggregateOp::Push, |(_, op)| *op);
                let values: Vec<Option<&str>> = window.iter().map(|v| v.as_str()).collect();
                op.reduce(&values)
            }
            other => Value::from_json(other),
        }
    }
}

/// What label evaluation needs during one step.
struct StepCx<'s, 'e, 'a, 'w> {
    state: &'s mut RuleState,
    event: &'e EventView<'a>,
    eval_where: &'w mut EvalWhere<'w>,
}

// ------------------------------------------------------------ construction

/// A machine under construction: transitions `(from, label, to)` over
/// local node numbers, 0 being its start and 1 its end.
struct Frag {
    nodes: u32,
    trans: Vec<(u32, u32, u32)>,
}

impl Frag {
    fn new() -> Frag {
        Frag {
            nodes: 2,
            trans: Vec::new(),
        }
    }

    fn fresh(&mut self) -> u32 {
        self.nodes += 1;
        self.nodes - 1
    }

    fn reserve(&self, more: usize) -> Result<(), RuntimeError> {
        if self.trans.len().saturating_add(more) > MAX_TRANSITIONS {
            return Err(RuntimeError::new(format!(
                "event expression too large: its state machine would have more than {MAX_TRANSITIONS} transitions"
            )));
        }
        Ok(())
    }

    /// Adds a copy of `f` with its start at `start` and its end at `end`
    /// (its other nodes are new).
    fn embed(&mut self, f: &Frag, start: u32, end: u32) -> Result<(), RuntimeError> {
        self.reserve(f.trans.len())?;
        let base = self.nodes;
        self.nodes += f.nodes - 2;
        let map = |n: u32| match n {
            START => start,
            END => end,
            n => base + n - 2,
        };
        self.trans
            .extend(f.trans.iter().map(|&(a, l, b)| (map(a), l, map(b))));
        Ok(())
    }

    /// Chains copies of `parts` from `start` to `end`; returns the junction
    /// nodes (end of one part = start of the next).
    fn chain(&mut self, parts: &[&Frag], start: u32, end: u32) -> Result<Vec<u32>, RuntimeError> {
        let mut junctions = Vec::new();
        let mut from = start;
        for (i, part) in parts.iter().enumerate() {
            let to = if i + 1 == parts.len() {
                end
            } else {
                self.fresh()
            };
            self.embed(part, from, to)?;
            if to != end {
                junctions.push(to);
            }
            from = to;
        }
        Ok(junctions)
    }

    /// One chain per ordered selection of `n` distinct parts, sharing
    /// prefixes (`and` is `n` = all, `any n` otherwise).
    fn selections(
        &mut self,
        parts: &[Frag],
        n: usize,
        node: u32,
        used: u32,
    ) -> Result<(), RuntimeError> {
        let depth = used.count_ones() as usize;
        for (i, part) in parts.iter().enumerate() {
            if used & (1 << i) != 0 {
                continue;
            }
            let target = if depth + 1 == n { END } else { self.fresh() };
            self.embed(part, node, target)?;
            if target != END {
                self.selections(parts, n, target, used | (1 << i))?;
            }
        }
        Ok(())
    }

    /// Merges nodes entered by exactly the same `(from, label)` pairs (they
    /// are always active together; `start` and `end` are never merged),
    /// drops duplicate transitions, renumbers the nodes densely.
    fn optimize(&mut self) {
        dedup(&mut self.trans);
        loop {
            let mut incoming: Vec<Vec<(u32, u32)>> = vec![Vec::new(); self.nodes as usize];
            for &(from, label, to) in &self.trans {
                incoming[to as usize].push((from, label));
            }
            for v in &mut incoming {
                v.sort_unstable();
                v.dedup();
            }
            let mut map: Vec<u32> = (0..self.nodes).collect();
            let mut first: HashMap<&[(u32, u32)], u32> = HashMap::new();
            let mut merged = false;
            for node in 2..self.nodes {
                let sig = &incoming[node as usize];
                if sig.is_empty() {
                    continue;
                }
                match first.get(sig.as_slice()) {
                    Some(&rep) => {
                        map[node as usize] = rep;
                        merged = true;
                    }
                    None => {
                        first.insert(sig.as_slice(), node);
                    }
                }
            }
            if !merged {
                break;
            }
            for t in &mut self.trans {
                t.0 = map[t.0 as usize];
                t.2 = map[t.2 as usize];
            }
            dedup(&mut self.trans);
        }

        // Dense numbering: start, end, then by first appearance.
        let mut number = vec![u32::MAX; self.nodes as usize];
        number[START as usize] = START;
        number[END as usize] = END;
        let mut next = 2;
        for t in &mut self.trans {
            for n in [&mut t.0, &mut t.2] {
                if number[*n as usize] == u32::MAX {
                    number[*n as usize] = next;
                    next += 1;
                }
                *n = number[*n as usize];
            }
        }
        self.nodes = next;
    }
}

/// Removes repeated elements, keeping the first of each.
fn dedup(trans: &mut Vec<(u32, u32, u32)>) {
    let mut seen = HashSet::with_capacity(trans.len());
    trans.retain(|t| seen.insert(*t));
}

#[derive(Default)]
struct Builder {
    simples: Vec<Simple>,
    labels: Vec<Label>,
    label_ids: HashMap<Label, u32>,
    setting_names: Vec<Arc<str>>,
    aggregate_ops: Vec<(Arc<str>, AggregateOp)>,
    where_spans: Vec<Span>,
}

impl Builder {
    fn label(&mut self, label: Label) -> u32 {
        if let Some(&id) = self.label_ids.get(&label) {
            return id;
        }
        let id = self.labels.len() as u32;
        self.labels.push(label);
        self.label_ids.insert(label, id);
        id
    }

    fn name(&mut self, name: &str) -> Arc<str> {
        match self.setting_names.iter().find(|n| ***n == *name) {
            Some(n) => n.clone(),
            None => {
                let n: Arc<str> = Arc::from(name);
                self.setting_names.push(n.clone());
                n
            }
        }
    }

    fn build(&mut self, e: &EventExpr) -> Result<Frag, RuntimeError> {
        self.build_kind(e).map_err(|x| x.at(e.span))
    }

    fn build_kind(&mut self, e: &EventExpr) -> Result<Frag, RuntimeError> {
        let err = |msg: String| RuntimeError::new(msg);
        match &e.kind {
            EventKind::Simple(_) => {
                let i = self.simple(e, None)?;
                Ok(self.single(i))
            }
            EventKind::Op { op, args } => {
                let parts = args
                    .iter()
                    .map(|a| self.build(a))
                    .collect::<Result<Vec<_>, _>>()?;
                let mut out = Frag::new();
                match op {
                    EventOp::Or => {
                        for p in &parts {
                            out.embed(p, START, END)?;
                        }
                    }
                    EventOp::And => {
                        if parts.len() > MAX_PERMUTED_ARGS {
                            return Err(err(format!(
                                "`and` of {} event expressions is too large (at most {MAX_PERMUTED_ARGS}: it needs one path per ordering)",
                                parts.len()
                            )));
                        }
                        out.selections(&parts, parts.len(), START, 0)?;
                    }
                    EventOp::Before | EventOp::Then => {
                        let refs: Vec<&Frag> = parts.iter().collect();
                        let junctions = out.chain(&refs, START, END)?;
                        if *op == EventOp::Then {
                            self.then_exits(&mut out, &junctions);
                        }
                    }
                    EventOp::After => {
                        let refs: Vec<&Frag> = parts.iter().rev().collect();
                        out.chain(&refs, START, END)?;
                    }
                }
                Ok(out)
            }
            EventKind::Between {
                negated,
                middle,
                first,
                last,
            } => {
                let a = self.build(middle)?;
                let b = self.build(first)?;
                let c = self.build(last)?;
                let mut out = Frag::new();
                if *negated {
                    // start -b-> s1 -c-> end, and s1 -a-> start
                    let s1 = out.fresh();
                    out.embed(&a, s1, START)?;
                    out.embed(&b, START, s1)?;
                    out.embed(&c, s1, END)?;
                } else {
                    out.chain(&[&b, &a, &c], START, END)?;
                }
                Ok(out)
            }
            EventKind::Any { n, args } => {
                let k = args.len();
                if *n < 1 || *n as usize > k {
                    return Err(err(format!(
                        "`any {n}` needs between 1 and {k} (the number of its arguments)"
                    )));
                }
                if k > MAX_PERMUTED_ARGS {
                    return Err(err(format!(
                        "`any` of {k} event expressions is too large (at most {MAX_PERMUTED_ARGS}: it needs one path per ordering)"
                    )));
                }
                let parts = args
                    .iter()
                    .map(|a| self.build(a))
                    .collect::<Result<Vec<_>, _>>()?;
                let mut out = Frag::new();
                out.selections(&parts, *n as usize, START, 0)?;
                Ok(out)
            }
            EventKind::Aggregate {
                kind,
                n,
                inner,
                aggregator,
            } => {
                let word = match kind {
                    AggregateKind::Count => "count",
                    AggregateKind::Repeat => "repeat",
                };
                if !matches!(inner.kind, EventKind::Simple(_)) {
                    return Err(err(format!("`{word}` takes one simple event expression")));
                }
                if *n < 1 {
                    return Err(err(format!("`{word} 0` never fires: use 1 or more")));
                }
                Frag::new().reserve(*n as usize)?;
                let agg = match aggregator {
                    None => None,
                    Some(a) => {
                        let op = AggregateOp::parse(&a.op).ok_or_else(|| {
                            RuntimeError::new(format!("unknown aggregator `{}`", a.op)).at(a.span)
                        })?;
                        Some((op, a.names.iter().map(|i| i.name.as_str()).collect()))
                    }
                };
                let i = self.simple(inner, agg)?;
                let one = self.single(i);
                let copies: Vec<&Frag> = (0..*n).map(|_| &one).collect();
                let mut out = Frag::new();
                out.chain(&copies, START, END)?;
                if *kind == AggregateKind::Repeat {
                    out.embed(&one, END, END)?;
                }
                Ok(out)
            }
            EventKind::Web { setting, .. } => {
                for s in setting {
                    self.name(&s.name);
                }
                Ok(Frag::new())
            }
        }
    }

    /// `start -simple i-> end`
    fn single(&mut self, i: u32) -> Frag {
        let label = self.label(Label::Simple(i));
        Frag {
            nodes: 2,
            trans: vec![(START, label, END)],
        }
    }

    /// Compiles a simple expression (and its aggregator); its index.
    fn simple(
        &mut self,
        e: &EventExpr,
        agg: Option<(AggregateOp, Vec<&str>)>,
    ) -> Result<u32, RuntimeError> {
        let EventKind::Simple(s) = &e.kind else {
            unreachable!("callers pass simple expressions")
        };
        let matchers = s
            .matchers
            .iter()
            .map(|m| {
                Ok(AttrMatcher {
                    attr: m.attr.name.as_str().into(),
                    regex: Regex::new(&m.pattern, &m.flags).map_err(|x| x.at(m.span))?,
                })
            })
            .collect::<Result<Vec<_>, RuntimeError>>()?;
        let setting = s.setting.iter().map(|i| self.name(&i.name)).collect();
        let where_index = s.condition.as_ref().map(|c| {
            self.where_spans.push(c.span);
            self.where_spans.len() - 1
        });
        let aggregator = agg.map(|(op, names)| {
            let names: Vec<Arc<str>> = names.into_iter().map(|n| self.name(n)).collect();
            for n in &names {
                if !self.aggregate_ops.iter().any(|(k, _)| k == n) {
                    self.aggregate_ops.push((n.clone(), op));
                }
            }
            (op, names)
        });
        self.simples.push(Simple {
            domain: s.domain.name.as_str().into(),
            name: s.name.name.as_str().into(),
            matchers,
            setting,
            where_index,
            aggregator,
        });
        Ok(self.simples.len() as u32 - 1)
    }

    /// `then`: at every junction, back to start on "not (any label leaving
    /// it)" — built as the reference does, `not l1 or (not l2 or ...)`.
    fn then_exits(&mut self, out: &mut Frag, junctions: &[u32]) {
        let mut exits = Vec::new();
        for &j in junctions {
            let mut leaving: Vec<u32> = Vec::new();
            for &(from, label, _) in &out.trans {
                if from == j && !leaving.contains(&label) {
                    leaving.push(label);
                }
            }
            let Some((&last, rest)) = leaving.split_last() else {
                continue;
            };
            let mut label = self.label(Label::Not(last));
            for &l in rest.iter().rev() {
                let not = self.label(Label::Not(l));
                label = self.label(Label::Or(not, label));
            }
            exits.push((j, label, START));
        }
        out.trans.extend(exits);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::ast::{Aggregator, Ident, Select};
    use crate::syntax::parse_ruleset;
    use serde_json::json;

    /// Every `select when` of a ruleset source, by rule name.
    fn rules(src: &str) -> Vec<(String, EventExpr)> {
        let rs = parse_ruleset(src).unwrap_or_else(|d| panic!("{}", d.message));
        rs.rules
            .into_iter()
            .map(|r| match r.select {
                Some(Select::When { expr, .. }) => (r.name.name, expr),
                other => panic!("not a select when: {other:?}"),
            })
            .collect()
    }

    fn expr(sel: &str) -> EventExpr {
        rules(&format!("ruleset t {{ rule r {{ select when {sel} }} }}"))
            .pop()
            .unwrap()
            .1
    }

    fn compile(sel: &str) -> Matcher {
        Matcher::compile(&expr(sel), None).unwrap()
    }

    #[test]
    fn one_event_matches_are_stateless_the_others_not() {
        for sel in [
            "a b",
            "a b or a c",
            "a b where x == 1",
            "a b attr re#(.*)# setting(v)",
        ] {
            assert!(compile(sel).is_stateless(), "{sel}");
        }
        for sel in [
            "a b before a c",
            "a b and a c",
            "a b then a c",
            "count 3 (a b)",
            "repeat 2 (a b)",
            "any 2 (a b, a c, a d)",
        ] {
            assert!(!compile(sel).is_stateless(), "{sel}");
        }
        let within = Matcher::compile(&expr("a b"), Some(1000.0)).unwrap();
        assert!(!within.is_stateless());
    }

    fn compile_err(sel: &str) -> String {
        match Matcher::compile(&expr(sel), None) {
            Ok(m) => panic!("compiled: {}", m.describe()),
            Err(e) => e.message,
        }
    }

    fn attrs(j: serde_json::Value) -> Map {
        match Value::from_json(&j) {
            Value::Map(m) => (*m).clone(),
            _ => panic!("attrs must be an object"),
        }
    }

    fn to_json(b: &[(Arc<str>, Value)]) -> serde_json::Value {
        serde_json::Value::Object(
            b.iter()
                .map(|(k, v)| (k.to_string(), v.to_json()))
                .collect(),
        )
    }

    /// domain, type, attributes, the rule that fires and its variables
    type RefEvent<'a> = (
        &'a str,
        &'a str,
        serde_json::Value,
        Option<(&'a str, serde_json::Value)>,
    );

    type WhereFn = Box<dyn FnMut(usize, &[(Arc<str>, Value)]) -> Result<bool, RuntimeError>>;

    /// One rule on one pico.
    struct Run {
        m: Matcher,
        st: RuleState,
        where_fn: WhereFn,
        /// Serialise and reload the state around every step.
        roundtrip: bool,
    }

    impl Run {
        fn new(sel: &str) -> Run {
            Run::with(Matcher::compile(&expr(sel), None).unwrap())
        }

        fn within(sel: &str, ms: f64) -> Run {
            Run::with(Matcher::compile(&expr(sel), Some(ms)).unwrap())
        }

        fn with(m: Matcher) -> Run {
            Run {
                m,
                st: RuleState::default(),
                where_fn: Box::new(|i, _| panic!("no where expected, got {i}")),
                roundtrip: false,
            }
        }

        fn where_fn(
            mut self,
            f: impl FnMut(usize, &[(Arc<str>, Value)]) -> Result<bool, RuntimeError> + 'static,
        ) -> Run {
            self.where_fn = Box::new(f);
            self
        }

        fn try_send(
            &mut self,
            domain: &str,
            name: &str,
            a: serde_json::Value,
            time: f64,
        ) -> Result<Option<serde_json::Value>, RuntimeError> {
            let a = attrs(a);
            let ev = EventView {
                domain,
                name,
                attrs: &a,
                time_ms: time,
            };
            if self.roundtrip {
                let text = serde_json::to_string(&self.st).unwrap();
                self.st = serde_json::from_str(&text).unwrap();
            }
            let r = self.m.step(&mut self.st, &ev, &mut *self.where_fn)?;
            Ok(r.map(|b| to_json(&b)))
        }

        fn send_at(
            &mut self,
            dt: &str,
            a: serde_json::Value,
            time: f64,
        ) -> Option<serde_json::Value> {
            let (d, t) = dt.split_once(':').unwrap();
            self.try_send(d, t, a, time).unwrap()
        }

        fn send(&mut self, dt: &str, a: serde_json::Value) -> Option<serde_json::Value> {
            self.send_at(dt, a, 0.0)
        }

        /// Events as `type`, `type?attr=value&...`, a trailing `!` when the
        /// rule must fire on it; the domain is always `e`.
        fn expect(&mut self, events: &str) {
            for (i, tok) in events.split_whitespace().enumerate() {
                let (tok, fire) = match tok.strip_suffix('!') {
                    Some(t) => (t, true),
                    None => (tok, false),
                };
                let (name, query) = tok.split_once('?').unwrap_or((tok, ""));
                let mut a = serde_json::Map::new();
                for kv in query.split('&').filter(|s| !s.is_empty()) {
                    let (k, v) = kv.split_once('=').unwrap();
                    a.insert(k.into(), v.into());
                }
                let got = self.send(&format!("e:{name}"), a.into()).is_some();
                assert_eq!(
                    got,
                    fire,
                    "event #{i} `{tok}`: fired={got}\n{}",
                    self.m.describe()
                );
            }
        }
    }

    fn expect(sel: &str, events: &str) {
        Run::new(sel).expect(events);
    }

    #[test]
    fn matcher_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Matcher>();
        check::<RuleState>();
    }

    // ------------------------------------------------ 5.3, table by table

    #[test]
    fn table_simple() {
        let m = compile("e a");
        assert_eq!(m.describe(), "start: e:a -> end\n");
        expect("e a", "a! b a! a!");
        expect("e:a", "a!");
    }

    #[test]
    fn table_or() {
        assert_eq!(
            compile("e a or e b").describe(),
            "start: e:a -> end, e:b -> end\n"
        );
        assert_eq!(
            compile("or(e a, e b, e c)").describe(),
            "start: e:a -> end, e:b -> end, e:c -> end\n"
        );
        expect("e a or e b", "a! b! c");
        expect("or(e a, e b, e c, e d)", "a! d! x");
    }

    #[test]
    fn table_and() {
        assert_eq!(
            compile("e a and e b").describe(),
            "start: e:a -> s2, e:b -> s3\ns2: e:b -> end\ns3: e:a -> end\n"
        );
        expect("e a and e b", "a c b! b a! b b b a!");
        expect("and(e a, e b, e c)", "a c b! a b c! c b a!");
        // six orderings, shared prefixes: 1 + 3 + 6 nodes before end
        let m = compile("and(e a, e b, e c)");
        assert_eq!(m.node_count(), 2 + 3 + 6);
        assert_eq!(m.transition_count(), 3 + 6 + 6);
    }

    #[test]
    fn table_before() {
        assert_eq!(
            compile("e a before e b").describe(),
            "start: e:a -> s2\ns2: e:b -> end\n"
        );
        expect("e a before e b", "a b! b b a a c b!");
        expect("before(e a, e b, e c)", "a b c! c b a a b a c!");
    }

    #[test]
    fn table_after() {
        assert_eq!(
            compile("e a after e b").describe(),
            "start: e:b -> s2\ns2: e:a -> end\n"
        );
        expect("e a after e b", "a b a! a a b c a!");
        expect("after(e a, e b, e c)", "a b c c b a!");
    }

    #[test]
    fn table_then() {
        assert_eq!(
            compile("e a then e b").describe(),
            "start: e:a -> s2\ns2: e:b -> end, not e:b -> start\n"
        );
        expect("e a then e b", "a b! a a b");
        // `c` is not salient for the rule: it does not break the `then`
        expect("e a then e b", "a c b!");
        expect("then(e a, e b, e c)", "a b c! a b b c a c a b c!");
        // Several labels leave the junction: back to start on
        // `not b or not c` (the reference's construction).
        assert_eq!(
            compile("e a then (e b and e c)").describe(),
            "start: e:a -> s2\n\
             s2: e:b -> s3, e:c -> s4, (not e:b or not e:c) -> start\n\
             s3: e:c -> end\ns4: e:b -> end\n"
        );
    }

    #[test]
    fn table_between() {
        assert_eq!(
            compile("e a between(e b, e c)").describe(),
            "start: e:b -> s2\ns2: e:a -> s3\ns3: e:c -> end\n"
        );
        expect("e a between(e b, e c)", "b a c! b a a c! b a b c!");
        expect("e a between(e b, e c)", "c a c b c c");
    }

    #[test]
    fn table_not_between() {
        assert_eq!(
            compile("e a not between(e b, e c)").describe(),
            "start: e:b -> s2\ns2: e:a -> start, e:c -> end\n"
        );
        expect("e a not between(e b, e c)", "b c! b a c b c! c");
    }

    #[test]
    fn table_any() {
        assert_eq!(
            compile("any 2 (e a, e b, e c)").describe(),
            "start: e:a -> s2, e:b -> s3, e:c -> s4\n\
             s2: e:b -> end, e:c -> end\n\
             s3: e:a -> end, e:c -> end\n\
             s4: e:a -> end, e:b -> end\n"
        );
        expect("any 2 (e a, e b, e c, e d)", "a a b! c a! d d x c!");
        expect("any 1 (e a, e b)", "a! b! c");
        // `any k` of k is `and`
        expect("any 2 (e a, e b)", "a a b! b a!");
        expect("any 3 (e a, e b, e c)", "a b b c! c a b!");
    }

    #[test]
    fn table_count() {
        assert_eq!(
            compile("count 3 (e a)").describe(),
            "start: e:a -> s2\ns2: e:a -> s3\ns3: e:a -> end\n"
        );
        expect("count 3 (e a)", "a a a! a a a! a");
        expect("count 1 (e a)", "a! a!");
    }

    #[test]
    fn table_repeat() {
        assert_eq!(
            compile("repeat 3 (e a)").describe(),
            "start: e:a -> s2\ns2: e:a -> s3\ns3: e:a -> end\nend: e:a -> end\n"
        );
        expect("repeat 3 (e a)", "a a a! a! a! b a!");
    }

    #[test]
    fn copies_of_the_same_expression_share_labels_and_merge() {
        // `and` of the same pattern twice as two expressions: nothing to merge
        let m = compile("e a and e a");
        assert_eq!(m.transition_count(), 4);
        // (a before a) or a keeps both paths
        assert_eq!(
            compile("(e a before e a) or e a").describe(),
            "start: e:a -> s2, e:a -> end\ns2: e:a -> end\n"
        );
    }

    // ------------------------------------------- 5.5: the listed examples

    #[test]
    fn spec_before() {
        expect("e a before e b", "a b!");
        expect("e a before e b", "a a c b!");
    }

    #[test]
    fn spec_before_rejected_match_resets() {
        expect("e a before e b x re#^yes$#", "a b?x=no b?x=yes");
        expect("e a before e b x re#^yes$#", "a b?x=yes!");
        expect("e a before e b x re#^yes$#", "a b?x=no a b?x=yes!");
    }

    #[test]
    fn spec_then() {
        expect("e a then e b", "a b!");
        expect("e a then e b", "a a b");
    }

    #[test]
    fn spec_and_or() {
        expect("(e a and e b) or e c", "c!");
        expect("(e a and e b) or e c", "a c b!");
    }

    #[test]
    fn spec_and_of_or() {
        expect("e a and (e b or e c)", "a b!");
        expect("e a and (e b or e c)", "c a!");
    }

    #[test]
    fn spec_and_or_same() {
        expect("(e a and e b) or e b", "b!");
        expect("(e a and e b) or e b", "a b!");
    }

    #[test]
    fn spec_and() {
        expect("e a and e b", "b b b a!");
    }

    #[test]
    fn spec_or() {
        expect("e a or e b", "a!");
        expect("e a or e b", "b!");
    }

    #[test]
    fn spec_repeat_reset() {
        expect(
            "repeat 3 (e a name re#bob#)",
            "a?name=bob a?name=bob a?name=bob! a?name=bob! a?name=x a?name=bob",
        );
    }

    #[test]
    fn spec_count() {
        expect("count 3 (e a)", "a a a! a a a!");
    }

    #[test]
    fn spec_any() {
        expect("any 2 (e a, e b, e c, e d)", "a a b!");
        expect("any 2 (e a, e b, e c, e d)", "c a!");
    }

    #[test]
    fn spec_duplicate_paths() {
        expect("(e a before e a) or e a", "a! a!");
        expect("e a not between (e b, e a)", "a b a!");
    }

    /// Settings across `or`, `and` (5.5), and the reference's scope tests.
    #[test]
    fn spec_settings_either_and_both() {
        let mut r =
            Run::new("scope e0 name re#(.*)# setting(n0) or scope e1 name re#(.*)# setting(n1)");
        assert_eq!(
            r.send("scope:e0", json!({"name": "000"})),
            Some(json!({"n0": "000", "n1": null}))
        );
        assert_eq!(
            r.send("scope:e1", json!({"name": "111"})),
            Some(json!({"n0": null, "n1": "111"}))
        );
        assert_eq!(
            r.send("scope:e0", json!({})),
            Some(json!({"n0": "", "n1": null}))
        );
        assert_eq!(
            r.send("scope:e1", json!({"name": "?"})),
            Some(json!({"n0": null, "n1": "?"}))
        );

        let mut r =
            Run::new("scope e0 name re#(.*)# setting(n0) and scope e1 name re#(.*)# setting(n1)");
        assert_eq!(r.send("scope:e0", json!({"name": "000"})), None);
        assert_eq!(
            r.send("scope:e1", json!({"name": "111"})),
            Some(json!({"n0": "000", "n1": "111"}))
        );
        // cleared after firing
        assert_eq!(r.send("scope:e1", json!({"name": "1"})), None);
        assert_eq!(
            r.send("scope:e0", json!({"name": "0"})),
            Some(json!({"n0": "0", "n1": "1"}))
        );
    }

    #[test]
    fn settings_are_cleared_after_firing_and_discarded_on_reset() {
        let mut r = Run::new("(e a x re#(.*)# setting(p)) or e b");
        assert_eq!(r.send("e:a", json!({"x": "1"})), Some(json!({"p": "1"})));
        assert_eq!(r.send("e:b", json!({})), Some(json!({"p": null})));

        let mut r = Run::new("e a x re#(.*)# setting(p) before e b y re#^yes$#");
        assert_eq!(r.send("e:a", json!({"x": "1"})), None);
        assert_eq!(r.send("e:b", json!({"y": "no"})), None);
        assert_eq!(r.st, RuleState::default());
        assert_eq!(r.send("e:b", json!({"y": "yes"})), None);
        assert_eq!(r.send("e:a", json!({"x": "2"})), None);
        assert_eq!(r.send("e:b", json!({"y": "yes"})), Some(json!({"p": "2"})));

        // later values overwrite
        let mut r = Run::new("e a x re#(.*)# setting(p) before e b x re#(.*)# setting(p)");
        assert_eq!(r.send("e:a", json!({"x": "1"})), None);
        assert_eq!(r.send("e:b", json!({"x": "2"})), Some(json!({"p": "2"})));
        // an event that advances nothing changes nothing
        let mut r = Run::new("e a x re#(.*)# setting(p) before e b");
        r.send("e:a", json!({"x": "1"}));
        r.send("e:a", json!({"x": "2"}));
        assert_eq!(r.send("e:b", json!({})), Some(json!({"p": "1"})));
    }

    #[test]
    fn reset_discards_state_but_later_transitions_still_count() {
        // In one step: the first branch matches (binds v, collects end),
        // then the rejected `e a x re#y#` resets the state: the rule still
        // fires, without the settings bound before the reset.
        let mut r = Run::new("e a z re#(.*)# setting(v) or e a x re#y#");
        assert_eq!(r.send("e:a", json!({"z": "1"})), Some(json!({"v": null})));
        // the other way round the reset comes first
        let mut r = Run::new("e a x re#y# or e a z re#(.*)# setting(v)");
        assert_eq!(r.send("e:a", json!({"z": "1"})), Some(json!({"v": "1"})));
        // rejected match with nothing collected afterwards: back at start
        let mut r = Run::new("e b before e a x re#y#");
        r.send("e:b", json!({}));
        assert_eq!(r.st.nodes, vec![2]);
        r.send("e:a", json!({"x": "n"}));
        assert_eq!(r.st, RuleState::default());
        // A different type never resets.
        let mut r = Run::new("e b before e a x re#y#");
        r.send("e:b", json!({}));
        r.send("e:b", json!({}));
        assert_eq!(r.send("e:a", json!({"x": "y"})), Some(json!({})));
    }

    // ------------------------------------------------------ 5.4 aggregators

    #[test]
    fn spec_count_max() {
        let mut r = Run::new("count 3 (meter reading v re#(\\d+)#) max(m)");
        let mut send = |v: &str| r.send("meter:reading", json!({ "v": v }));
        assert_eq!(send("3"), None);
        assert_eq!(send("8"), None);
        assert_eq!(send("5"), Some(json!({"m": 8})));
        assert_eq!(send("1"), None);
        assert_eq!(send("0"), None);
        assert_eq!(send("0"), Some(json!({"m": 1})));
    }

    #[test]
    fn spec_repeat_min_sliding_window() {
        let mut r = Run::new("repeat 3 (e a b re#(\\d+)#) min(m)");
        let mut send = |v: &str| r.send("e:a", json!({ "b": v }));
        assert_eq!(send("5"), None);
        assert_eq!(send("3"), None);
        assert_eq!(send("4"), Some(json!({"m": 3})));
        assert_eq!(send("5"), Some(json!({"m": 3})));
        assert_eq!(send("6"), Some(json!({"m": 4})));
    }

    #[test]
    fn spec_repeat_avg_and_push() {
        let mut r = Run::new("repeat 5 (temp sample c re#(-?\\d+\\.?\\d*)#) avg(avg_c)");
        for c in ["1", "2", "3", "4"] {
            assert_eq!(r.send("temp:sample", json!({ "c": c })), None);
        }
        assert_eq!(
            r.send("temp:sample", json!({"c": "-5"})),
            Some(json!({"avg_c": 1}))
        );
        assert_eq!(
            r.send("temp:sample", json!({"c": "12.5"})),
            Some(json!({"avg_c": 3.3}))
        );

        let mut r = Run::new("repeat 3 (chat msg who re#(.+)# text re#(.*)#) push(whos, texts)");
        r.send("chat:msg", json!({"who": "ann", "text": "hi"}));
        r.send("chat:msg", json!({"who": "bob"}));
        assert_eq!(
            r.send("chat:msg", json!({"who": "cy", "text": "yo"})),
            Some(json!({"whos": ["ann", "bob", "cy"], "texts": ["hi", "", "yo"]}))
        );
        assert_eq!(
            r.send("chat:msg", json!({"who": "di", "text": "!"})),
            Some(json!({"whos": ["bob", "cy", "di"], "texts": ["", "yo", "!"]}))
        );
        // a rejected match (who is empty) restarts the window
        assert_eq!(r.send("chat:msg", json!({"who": ""})), None);
        r.send("chat:msg", json!({"who": "e"}));
        r.send("chat:msg", json!({"who": "f"}));
        assert_eq!(
            r.send("chat:msg", json!({"who": "g"})),
            Some(json!({"whos": ["e", "f", "g"], "texts": ["", "", ""]}))
        );
    }

    #[test]
    fn aggregator_names_without_captures_collect_nulls() {
        let mut r = Run::new("count 2 (e a x re#(\\d+)#) sum(s, t)");
        r.send("e:a", json!({"x": "1"}));
        assert_eq!(
            r.send("e:a", json!({"x": "2"})),
            Some(json!({"s": 3, "t": 0}))
        );
        let mut r = Run::new("count 2 (e a x re#(\\d+)#) push(s, t)");
        r.send("e:a", json!({"x": "1"}));
        assert_eq!(
            r.send("e:a", json!({"x": "2"})),
            Some(json!({"s": ["1", "2"], "t": [null, null]}))
        );
    }

    #[test]
    fn aggregate_reduction_converts_like_numbers() {
        let v = [Some("3"), Some("x"), None, Some(" 0x10 ")];
        assert_eq!(AggregateOp::Max.reduce(&v), Value::Number(16.0));
        assert_eq!(AggregateOp::Min.reduce(&v), Value::Number(0.0));
        assert_eq!(AggregateOp::Sum.reduce(&v), Value::Number(19.0));
        assert_eq!(AggregateOp::Avg.reduce(&v), Value::Number(4.75));
        assert_eq!(
            AggregateOp::Push.reduce(&v),
            Value::from(vec![
                Value::from("3"),
                Value::from("x"),
                Value::Null,
                Value::from(" 0x10 ")
            ])
        );
        assert_eq!(AggregateOp::Avg.reduce(&[]), Value::Null);
    }

    // ----------------------------------------------------------- 5.6 within

    #[test]
    fn spec_within_minutes() {
        let mut r = Run::within("foo a before foo b", 5.0 * 60_000.0);
        assert_eq!(r.send_at("foo:a", json!({}), 0.0), None);
        assert!(r.send_at("foo:b", json!({}), 1.0).is_some());
        let mut r = Run::within("foo a before foo b", 5.0 * 60_000.0);
        assert_eq!(r.send_at("foo:a", json!({}), 0.0), None);
        assert_eq!(r.send_at("foo:b", json!({}), 555_555.0), None);
    }

    #[test]
    fn spec_within_boundary_is_inclusive() {
        for (t, fires) in [(3999.0, true), (4000.0, true), (4001.0, false)] {
            let mut r = Run::within("bar a before bar b", (1.0 + 3.0) * 1000.0);
            r.send_at("bar:a", json!({}), 0.0);
            assert_eq!(r.send_at("bar:b", json!({}), t).is_some(), fires, "b@{t}");
        }
    }

    #[test]
    fn spec_within_repeat() {
        let mut r = Run::within("repeat 3 (qux a b re#c#)", 2000.0);
        let c = json!({"b": "c"});
        assert_eq!(r.send_at("qux:a", c.clone(), 0.0), None);
        assert_eq!(r.send_at("qux:a", c.clone(), 1.0), None);
        assert!(r.send_at("qux:a", c.clone(), 1002.0).is_some());
        // expired: restart, this one is the first
        assert_eq!(r.send_at("qux:a", c.clone(), 2003.0), None);
        assert_eq!(r.starttime(), Some(2003.0));
        assert_eq!(r.send_at("qux:a", c.clone(), 2004.0), None);
        assert!(r.send_at("qux:a", c.clone(), 2005.0).is_some());
    }

    impl Run {
        fn starttime(&self) -> Option<f64> {
            self.st.starttime
        }
    }

    /// The reference's within.krl test, event by event (absolute times).
    #[test]
    fn reference_within_ruleset() {
        const T: f64 = 10_000_000_000_000.0;
        let src = "ruleset io.picolabs.within {
            rule foo { select when foo a before foo b within 5 minutes }
            rule bar { select when bar a before bar b within 1 + 3 second }
            rule baz { select when baz a or (baz b and baz c) within 1 year }
            rule qux { select when repeat 3 (qux a b re#c#) within 2 seconds }
        }";
        let limits = [300_000.0, 4_000.0, 365.0 * 86_400_000.0, 2_000.0];
        let mut runs: Vec<(String, Run)> = rules(src)
            .into_iter()
            .zip(limits)
            .map(|((name, e), ms)| (name, Run::with(Matcher::compile(&e, Some(ms)).unwrap())))
            .collect();
        let c = || json!({"b": "c"});
        let events: Vec<(f64, &str, serde_json::Value, bool)> = vec![
            (0.0, "foo:a", json!({}), false),
            (1.0, "foo:b", json!({}), true),
            (2.0, "foo:a", json!({}), false),
            (555_555.0, "foo:b", json!({}), false),
            (555_556.0, "foo:a", json!({}), false),
            (255_557.0, "foo:b", json!({}), true),
            (0.0, "bar:a", json!({}), false),
            (3_999.0, "bar:b", json!({}), true),
            (0.0, "bar:a", json!({}), false),
            (4_000.0, "bar:b", json!({}), true),
            (0.0, "bar:a", json!({}), false),
            (4_001.0, "bar:b", json!({}), false),
            (0.0, "baz:a", json!({}), true),
            (0.0, "baz:b", json!({}), false),
            (31_536_000_000.0, "baz:c", json!({}), true),
            (0.0, "baz:c", json!({}), false),
            (40_000_000_000.0, "baz:b", json!({}), false),
            (50_000_000_000.0, "baz:c", json!({}), true),
            (0.0, "qux:a", c(), false),
            (1.0, "qux:a", c(), false),
            (1_002.0, "qux:a", c(), true),
            (2_003.0, "qux:a", c(), false),
            (2_004.0, "qux:a", c(), false),
            (2_005.0, "qux:a", c(), true),
            (2_006.0, "qux:a", c(), true),
            (2_007.0, "qux:a", json!({"b": "z"}), false),
            (2_008.0, "qux:a", c(), false),
            (2_009.0, "qux:a", c(), false),
            (4_008.0, "qux:a", c(), true),
        ];
        for roundtrip in [false, true] {
            for (_, r) in &mut runs {
                r.st = RuleState::default();
                r.roundtrip = roundtrip;
            }
            for (i, (t, dt, a, fires)) in events.iter().enumerate() {
                let fired: Vec<&str> = runs
                    .iter_mut()
                    .filter_map(|(name, r)| r.send_at(dt, a.clone(), T + t).map(|_| name.as_str()))
                    .collect();
                assert_eq!(!fired.is_empty(), *fires, "event #{i} {dt}@{t}: {fired:?}");
            }
        }
    }

    /// The reference's scope.krl `eventWithin`: settings survive until the
    /// rule fires or the time runs out.
    #[test]
    fn within_timeout_clears_settings() {
        const T: f64 = 10_000_000_000_000.0;
        let mut r = Run::within(
            "(scope eventWithin0 or scope eventWithin1 name re#^(.*)$# setting(name1)) \
             and (scope eventWithin2 name re#^(.*)$# setting(name2) or scope eventWithin3)",
            1000.0,
        );
        assert_eq!(
            r.send_at("scope:eventWithin1", json!({"name": "111"}), T),
            None
        );
        assert_eq!(
            r.send_at("scope:eventWithin2", json!({"name": "222"}), T + 7.0),
            Some(json!({"name1": "111", "name2": "222"}))
        );
        assert_eq!(
            r.send_at("scope:eventWithin1", json!({"name": "111"}), T),
            None
        );
        assert_eq!(r.send_at("scope:eventWithin0", json!({}), T + 7000.0), None);
        assert_eq!(
            r.send_at("scope:eventWithin2", json!({"name": "222"}), T + 7007.0),
            Some(json!({"name1": null, "name2": "222"}))
        );
        assert_eq!(
            r.send_at("scope:eventWithin1", json!({"name": "aaa"}), T + 7008.0),
            None
        );
        assert_eq!(
            r.send_at("scope:eventWithin3", json!({}), T + 7009.0),
            Some(json!({"name1": "aaa", "name2": null}))
        );
    }

    #[test]
    fn within_keeps_aggregates_on_timeout_but_restarts_them_at_start() {
        let mut r = Run::within("repeat 2 (e a x re#(\\d+)#) push(v)", 10.0);
        r.send_at("e:a", json!({"x": "1"}), 0.0);
        assert_eq!(
            r.send_at("e:a", json!({"x": "2"}), 5.0),
            Some(json!({"v": ["1", "2"]}))
        );
        assert_eq!(
            r.send_at("e:a", json!({"x": "3"}), 10.0),
            Some(json!({"v": ["2", "3"]}))
        );
        // 11 ms after the clock started: timed out, this is the first again
        assert_eq!(r.send_at("e:a", json!({"x": "4"}), 11.0), None);
        assert_eq!(
            r.send_at("e:a", json!({"x": "5"}), 12.0),
            Some(json!({"v": ["4", "5"]}))
        );
    }

    // ------------------------------------------------- the reference suite

    /// The reference's event-exp.krl test, event by event.
    #[test]
    fn reference_event_exp_ruleset() {
        let src = r#"ruleset io.picolabs.event-exp {
            rule before { select when ee_before a before ee_before b }
            rule after { select when ee_after a after ee_after b }
            rule then { select when ee_then a then ee_then b name re#bob# }
            rule and { select when ee_and a and ee_and b }
            rule or { select when ee_or a or ee_or b }
            rule between { select when ee_between a between(ee_between b, ee_between c) }
            rule not_between { select when ee_not_between a not between(ee_not_between b, ee_not_between c) }
            rule and_or { select when (ee_andor a and ee_andor b) or ee_andor c }
            rule or_and { select when ee_orand a and (ee_orand b or ee_orand c) }
            rule before_n { select when before(ee_before_n a, ee_before_n b, ee_before_n c) }
            rule after_n { select when after(ee_after_n a, ee_after_n b, ee_after_n c) }
            rule then_n { select when then(ee_then_n a, ee_then_n b, ee_then_n c) }
            rule and_n { select when and(ee_and_n a, ee_and_n b, ee_and_n c) }
            rule or_n { select when or(ee_or_n a, ee_or_n b, ee_or_n c, ee_or_n d) }
            rule any { select when any 2 (ee_any a, ee_any b, ee_any c, ee_any d) }
            rule count { select when count 3 (ee_count a) }
            rule repeat { select when repeat 3 (ee_repeat a name re#bob#) }
            rule count_max { select when count 3 (ee_count_max a b re#(\d+)#) max(m) }
            rule repeat_min { select when repeat 3 (ee_repeat_min a b re#(\d+)#) min(m) }
            rule repeat_sum { select when repeat 3 (ee_repeat_sum a b re#(\d+)#) sum(m) }
            rule repeat_avg { select when repeat 3 (ee_repeat_avg a b re#(\d+)#) avg(m) }
            rule repeat_push { select when repeat 3 (ee_repeat_push a b re#(\d+)#) push(m) }
            rule repeat_push_multi {
                select when repeat 5 (ee_repeat_push_multi a a re#(\d+)# b re#(\d+) (.*)#) push(a, b, c, d)
            }
            rule repeat_sum_multi {
                select when repeat 3 (ee_repeat_sum_multi a a re#(\d+)# b re#(\d+)#) sum(a, b)
            }
            rule or_duppath { select when (ee_or_duppath a before ee_or_duppath a) or ee_or_duppath a }
            rule notbet_duppath { select when ee_notbet_duppath a not between(ee_notbet_duppath b, ee_notbet_duppath a) }
            rule ab_or_b { select when (ee_ab_or_b a and ee_ab_or_b b) or ee_ab_or_b b }
            rule ab_or_ca { select when (ee_ab_or_ca a and ee_ab_or_ca b) or (ee_ab_or_ca c and ee_ab_or_ca a) }
        }"#;
        let n = || json!({});
        let bob = || json!({"name": "bob"});
        let b = |v: &str| json!({ "b": v });
        let m = |v: serde_json::Value| json!({ "m": v });
        #[rustfmt::skip]
        let events: Vec<RefEvent> = vec![
            ("ee_before", "a", n(), None),
            ("ee_before", "b", n(), Some(("before", n()))),
            ("ee_before", "b", n(), None),
            ("ee_before", "b", n(), None),
            ("ee_before", "a", n(), None),
            ("ee_before", "a", n(), None),
            ("ee_before", "c", n(), None),
            ("ee_before", "b", n(), Some(("before", n()))),

            ("ee_after", "a", n(), None),
            ("ee_after", "b", n(), None),
            ("ee_after", "a", n(), Some(("after", n()))),
            ("ee_after", "a", n(), None),
            ("ee_after", "a", n(), None),
            ("ee_after", "b", n(), None),
            ("ee_after", "c", n(), None),
            ("ee_after", "a", n(), Some(("after", n()))),

            ("ee_then", "a", bob(), None),
            ("ee_then", "b", bob(), Some(("then", n()))),
            ("ee_then", "b", bob(), None),
            ("ee_then", "a", bob(), None),
            ("ee_then", "b", json!({"name": "..."}), None),
            ("ee_then", "b", bob(), None),

            ("ee_and", "a", n(), None),
            ("ee_and", "c", n(), None),
            ("ee_and", "b", n(), Some(("and", n()))),
            ("ee_and", "b", n(), None),
            ("ee_and", "a", n(), Some(("and", n()))),
            ("ee_and", "b", n(), None),
            ("ee_and", "b", n(), None),
            ("ee_and", "b", n(), None),
            ("ee_and", "a", n(), Some(("and", n()))),

            ("ee_or", "a", n(), Some(("or", n()))),
            ("ee_or", "b", n(), Some(("or", n()))),
            ("ee_or", "c", n(), None),

            ("ee_between", "b", n(), None),
            ("ee_between", "a", n(), None),
            ("ee_between", "c", n(), Some(("between", n()))),
            ("ee_between", "b", n(), None),
            ("ee_between", "a", n(), None),
            ("ee_between", "a", n(), None),
            ("ee_between", "c", n(), Some(("between", n()))),
            ("ee_between", "b", n(), None),
            ("ee_between", "a", n(), None),
            ("ee_between", "b", n(), None),
            ("ee_between", "c", n(), Some(("between", n()))),

            ("ee_not_between", "b", n(), None),
            ("ee_not_between", "c", n(), Some(("not_between", n()))),
            ("ee_not_between", "b", n(), None),
            ("ee_not_between", "a", n(), None),
            ("ee_not_between", "c", n(), None),
            ("ee_not_between", "b", n(), None),
            ("ee_not_between", "c", n(), Some(("not_between", n()))),
            ("ee_not_between", "c", n(), None),

            ("ee_andor", "c", n(), Some(("and_or", n()))),
            ("ee_andor", "a", n(), None),
            ("ee_andor", "c", n(), None),
            ("ee_andor", "b", n(), Some(("and_or", n()))),

            ("ee_orand", "a", n(), None),
            ("ee_orand", "b", n(), Some(("or_and", n()))),
            ("ee_orand", "c", n(), None),
            ("ee_orand", "a", n(), Some(("or_and", n()))),

            ("ee_before_n", "a", n(), None),
            ("ee_before_n", "b", n(), None),
            ("ee_before_n", "c", n(), Some(("before_n", n()))),

            ("ee_after_n", "c", n(), None),
            ("ee_after_n", "b", n(), None),
            ("ee_after_n", "a", n(), Some(("after_n", n()))),

            ("ee_then_n", "a", n(), None),
            ("ee_then_n", "b", n(), None),
            ("ee_then_n", "c", n(), Some(("then_n", n()))),
            ("ee_then_n", "a", n(), None),
            ("ee_then_n", "b", n(), None),
            ("ee_then_n", "a", n(), None),
            ("ee_then_n", "c", n(), None),

            ("ee_and_n", "a", n(), None),
            ("ee_and_n", "c", n(), None),
            ("ee_and_n", "b", n(), Some(("and_n", n()))),

            ("ee_or_n", "a", n(), Some(("or_n", n()))),
            ("ee_or_n", "d", n(), Some(("or_n", n()))),

            ("ee_any", "a", n(), None),
            ("ee_any", "a", n(), None),
            ("ee_any", "b", n(), Some(("any", n()))),
            ("ee_any", "c", n(), None),
            ("ee_any", "a", n(), Some(("any", n()))),

            ("ee_count", "a", n(), None),
            ("ee_count", "a", n(), None),
            ("ee_count", "a", n(), Some(("count", n()))),
            ("ee_count", "a", n(), None),
            ("ee_count", "a", n(), None),
            ("ee_count", "a", n(), Some(("count", n()))),
            ("ee_count", "a", n(), None),

            ("ee_repeat", "a", bob(), None),
            ("ee_repeat", "a", bob(), None),
            ("ee_repeat", "a", bob(), Some(("repeat", n()))),
            ("ee_repeat", "a", bob(), Some(("repeat", n()))),
            ("ee_repeat", "a", json!({"name": "..."}), None),
            ("ee_repeat", "a", bob(), None),

            ("ee_count_max", "a", b("3"), None),
            ("ee_count_max", "a", b("8"), None),
            ("ee_count_max", "a", b("5"), Some(("count_max", m(json!(8))))),
            ("ee_count_max", "a", b("1"), None),
            ("ee_count_max", "a", b("0"), None),
            ("ee_count_max", "a", b("0"), Some(("count_max", m(json!(1))))),
            ("ee_count_max", "a", b("0"), None),
            ("ee_count_max", "a", b("0"), None),
            ("ee_count_max", "a", b("7"), Some(("count_max", m(json!(7))))),

            ("ee_repeat_min", "a", b("5"), None),
            ("ee_repeat_min", "a", b("3"), None),
            ("ee_repeat_min", "a", b("4"), Some(("repeat_min", m(json!(3))))),
            ("ee_repeat_min", "a", b("5"), Some(("repeat_min", m(json!(3))))),
            ("ee_repeat_min", "a", b("6"), Some(("repeat_min", m(json!(4))))),
            ("ee_repeat_min", "a", json!({"b": null}), None),
            ("ee_repeat_min", "a", b("3"), None),
            ("ee_repeat_min", "a", b("8"), None),
            ("ee_repeat_min", "a", b("1"), Some(("repeat_min", m(json!(1))))),
            ("ee_repeat_min", "a", b("2"), Some(("repeat_min", m(json!(1))))),
            ("ee_repeat_min", "a", b("3"), Some(("repeat_min", m(json!(1))))),
            ("ee_repeat_min", "a", b("4"), Some(("repeat_min", m(json!(2))))),
            ("ee_repeat_min", "a", b("5"), Some(("repeat_min", m(json!(3))))),
            ("ee_repeat_min", "a", b("6"), Some(("repeat_min", m(json!(4))))),
            ("ee_repeat_min", "a", b("7"), Some(("repeat_min", m(json!(5))))),

            ("ee_repeat_sum", "a", b("1"), None),
            ("ee_repeat_sum", "a", b("2"), None),
            ("ee_repeat_sum", "a", b("3"), Some(("repeat_sum", m(json!(6))))),
            ("ee_repeat_sum", "a", b("4"), Some(("repeat_sum", m(json!(9))))),

            ("ee_repeat_avg", "a", b("1"), None),
            ("ee_repeat_avg", "a", b("2"), None),
            ("ee_repeat_avg", "a", b("3"), Some(("repeat_avg", m(json!(2))))),
            ("ee_repeat_avg", "a", b("100"), Some(("repeat_avg", m(json!(35))))),

            ("ee_repeat_push", "a", b("1"), None),
            ("ee_repeat_push", "a", b("2"), None),
            ("ee_repeat_push", "a", b("3"), Some(("repeat_push", m(json!(["1", "2", "3"]))))),
            ("ee_repeat_push", "a", b("4"), Some(("repeat_push", m(json!(["2", "3", "4"]))))),
            ("ee_repeat_push", "a", b("five"), None),
            ("ee_repeat_push", "a", b("6"), None),
            ("ee_repeat_push", "a", b("7"), None),
            ("ee_repeat_push", "a", b("8"), Some(("repeat_push", m(json!(["6", "7", "8"]))))),

            ("ee_repeat_push_multi", "a", json!({"a": "1", "b": "2 three"}), None),
            ("ee_repeat_push_multi", "a", json!({"a": "2", "b": "3 four"}), None),
            ("ee_repeat_push_multi", "a", json!({"a": "3", "b": "4 five"}), None),
            ("ee_repeat_push_multi", "a", json!({"a": "4", "b": "5 six"}), None),
            ("ee_repeat_push_multi", "a", json!({"a": "5", "b": "6 seven"}), Some(("repeat_push_multi", json!({
                "a": ["1", "2", "3", "4", "5"],
                "b": ["2", "3", "4", "5", "6"],
                "c": ["three", "four", "five", "six", "seven"],
                "d": [null, null, null, null, null],
            })))),

            ("ee_repeat_sum_multi", "a", json!({"a": "1", "b": "2"}), None),
            ("ee_repeat_sum_multi", "a", json!({"a": "2", "b": "3"}), None),
            ("ee_repeat_sum_multi", "a", json!({"a": "3", "b": "4"}), Some(("repeat_sum_multi", json!({"a": 6, "b": 9})))),

            ("ee_or_duppath", "a", n(), Some(("or_duppath", n()))),
            ("ee_or_duppath", "a", n(), Some(("or_duppath", n()))),

            ("ee_notbet_duppath", "a", n(), None),
            ("ee_notbet_duppath", "b", n(), None),
            ("ee_notbet_duppath", "a", n(), Some(("notbet_duppath", n()))),

            ("ee_ab_or_b", "b", n(), Some(("ab_or_b", n()))),
            ("ee_ab_or_b", "a", n(), None),
            ("ee_ab_or_b", "b", n(), Some(("ab_or_b", n()))),
            ("ee_ab_or_b", "b", n(), Some(("ab_or_b", n()))),
            ("ee_ab_or_b", "a", n(), None),

            ("ee_ab_or_ca", "a", n(), None),
            ("ee_ab_or_ca", "c", n(), Some(("ab_or_ca", n()))),
            ("ee_ab_or_ca", "a", n(), None),
            ("ee_ab_or_ca", "b", n(), Some(("ab_or_ca", n()))),
        ];
        for roundtrip in [false, true] {
            let mut runs: Vec<(String, Run)> = rules(src)
                .into_iter()
                .map(|(name, e)| {
                    let mut r = Run::with(Matcher::compile(&e, None).unwrap());
                    r.roundtrip = roundtrip;
                    (name, r)
                })
                .collect();
            for (i, (d, t, a, want)) in events.iter().enumerate() {
                let fired: Vec<(&str, serde_json::Value)> = runs
                    .iter_mut()
                    .filter(|(_, r)| r.m.salient(d, t))
                    .filter_map(|(name, r)| {
                        r.try_send(d, t, a.clone(), 0.0)
                            .unwrap()
                            .map(|b| (name.as_str(), b))
                    })
                    .collect();
                let want: Vec<(&str, serde_json::Value)> = want.iter().cloned().collect();
                assert_eq!(fired, want, "event #{i} {d}:{t} {a}");
            }
        }
    }

    // ------------------------------------------ attributes, where, salience

    #[test]
    fn attribute_values_are_converted_to_strings() {
        let mut r = Run::new("e a x re#^(.*)$# setting(v)");
        let mut v = |a: serde_json::Value| r.send("e:a", a).unwrap()["v"].clone();
        assert_eq!(v(json!({})), json!(""));
        assert_eq!(v(json!({"x": null})), json!("null"));
        assert_eq!(v(json!({"x": false})), json!("false"));
        assert_eq!(v(json!({"x": 3})), json!("3"));
        assert_eq!(v(json!({"x": 2.5})), json!("2.5"));
        assert_eq!(v(json!({"x": [1]})), json!("[Array]"));
        assert_eq!(v(json!({"x": {"k": 1}})), json!("[Map]"));
    }

    #[test]
    fn captures_in_order_first_match_only() {
        let mut r = Run::new("e a x re#(\\d)#g y re#^(a)?(b)(c)?$# z re#q# setting(p, q, r, s, t)");
        assert_eq!(
            r.send("e:a", json!({"x": "x12", "y": "b", "z": "qq"})),
            Some(json!({"p": "1", "q": null, "r": "b", "s": null, "t": null}))
        );
        // matchers are case sensitive unless `i`
        expect("e a x re#^yes$#i", "a?x=YES! a?x=no");
        expect("e a x re#^yes$#", "a?x=YES");
    }

    #[test]
    fn where_clauses_are_numbered_in_source_order_and_see_settings() {
        let sel = "e a x re#(.*)# setting(p) where p != \"\" \
                   before (e b y re#(.*)# setting(q) where q == p \
                   or e c where true)";
        let e = expr(sel);
        let m = Matcher::compile(&e, None).unwrap();
        assert_eq!(m.where_count(), 3);
        let clauses = where_clauses(&e);
        assert_eq!(clauses.len(), 3);
        assert_eq!(
            m.where_spans(),
            clauses
                .iter()
                .map(|c| c.span)
                .collect::<Vec<_>>()
                .as_slice()
        );
        assert!(m.where_spans().windows(2).all(|w| w[0].start < w[1].start));
        let names: Vec<&str> = m.setting_names().iter().map(|n| &**n).collect();
        assert_eq!(names, ["p", "q"]);

        let calls = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = calls.clone();
        let mut r = Run::with(m).where_fn(move |i, b| {
            let j = to_json(b);
            log.lock().unwrap().push((i, j.clone()));
            Ok(match i {
                0 => j["p"] != json!(""),
                1 => j["q"] == j["p"],
                _ => true,
            })
        });
        assert_eq!(r.send("e:a", json!({})), None); // where 0 false: reset
        assert_eq!(r.send("e:a", json!({"x": "1"})), None);
        assert_eq!(r.send("e:b", json!({"y": "2"})), None); // where 1 false: reset
        assert_eq!(r.send("e:b", json!({"y": "1"})), None); // at start again
        assert_eq!(r.send("e:a", json!({"x": "1"})), None);
        assert_eq!(
            r.send("e:b", json!({"y": "1"})),
            Some(json!({"p": "1", "q": "1"}))
        );
        assert_eq!(
            *calls.lock().unwrap(),
            vec![
                (0, json!({"p": "", "q": null})),
                (0, json!({"p": "1", "q": null})),
                (1, json!({"p": "1", "q": "2"})),
                (0, json!({"p": "1", "q": null})),
                (1, json!({"p": "1", "q": "1"})),
            ]
        );
    }

    #[test]
    fn spec_where_examples() {
        let mut r =
            Run::new("shop purchase qty re#^(\\d+)$# setting(qty) where qty.as(\"Number\") > 10")
                .where_fn(|i, b| {
                    assert_eq!(i, 0);
                    Ok(b[0].1.to_number().unwrap() > 10.0)
                });
        assert_eq!(r.send("shop:purchase", json!({"qty": "5"})), None);
        assert_eq!(
            r.send("shop:purchase", json!({"qty": "11"})),
            Some(json!({"qty": "11"}))
        );
        let mut r = Run::new("shop purchase item re#^(\\w+)$# qty re#^(\\d+)$# setting(item, qty)");
        assert_eq!(
            r.send("shop:purchase", json!({"item": "pen", "qty": 2})),
            Some(json!({"item": "pen", "qty": "2"}))
        );
        assert_eq!(
            r.send("shop:purchase", json!({"item": "a pen", "qty": 2})),
            None
        );
    }

    #[test]
    fn where_without_settings_and_setting_names() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let hot = Arc::new(AtomicBool::new(false));
        let h = hot.clone();
        let mut r =
            Run::new("sensor reading where event:attrs{\"temp\"} > 30").where_fn(move |i, b| {
                assert_eq!((i, b.len()), (0, 0));
                Ok(h.load(Ordering::SeqCst))
            });
        assert_eq!(r.send("sensor:reading", json!({"temp": 20})), None);
        hot.store(true, Ordering::SeqCst);
        assert_eq!(
            r.send("sensor:reading", json!({"temp": 40})),
            Some(json!({}))
        );

        let m = compile(
            "count 2 (e a x re#(.)(.)# setting(s)) push(p, s) before e b y re#(.)# setting(s, t)",
        );
        let names: Vec<&str> = m.setting_names().iter().map(|n| &**n).collect();
        assert_eq!(names, ["s", "p", "t"]);
        assert_eq!(m.where_count(), 0);
    }

    #[test]
    fn where_error_leaves_state_unchanged() {
        let mut r = Run::new("e a x re#(.*)# setting(p) before e b where oops")
            .where_fn(|_, _| Err(RuntimeError::new("boom")));
        r.send("e:a", json!({"x": "1"}));
        let before = r.st.clone();
        let err = r.try_send("e", "b", json!({}), 0.0).unwrap_err();
        assert_eq!(err.message, "boom");
        assert_eq!(r.st, before);
    }

    #[test]
    fn non_salient_events_do_not_touch_the_state() {
        let m = compile("e a then e b x re#y# or f c");
        assert!(m.salient("e", "a") && m.salient("e", "b") && m.salient("f", "c"));
        assert!(!m.salient("e", "c") && !m.salient("f", "a") && !m.salient("", ""));
        assert_eq!(
            m.salience().collect::<Vec<_>>(),
            [("e", "a"), ("e", "b"), ("f", "c")]
        );
        let mut r = Run::with(compile("e a then e b"));
        r.send("e:a", json!({}));
        let st = r.st.clone();
        assert_eq!(r.send("e:c", json!({})), None);
        assert_eq!(r.send("x:b", json!({})), None);
        assert_eq!(r.st, st);
        assert!(r.send("e:b", json!({})).is_some());
    }

    #[test]
    fn web_events_never_match() {
        let e = expr("e a or web click \"#x\"");
        let m = Matcher::compile(&e, None).unwrap();
        assert!(!m.salient("web", "click"));
        let mut r = Run::with(m);
        assert!(r.send("e:a", json!({})).is_some());
    }

    #[test]
    fn stale_or_foreign_state_is_harmless() {
        let mut r = Run::new("e a before e b");
        r.st.nodes = vec![999, 7];
        assert_eq!(r.send("e:a", json!({})), None);
        assert!(r.send("e:b", json!({})).is_some());
        let st: RuleState = serde_json::from_str("{}").unwrap();
        assert_eq!(st, RuleState::default());
    }

    #[test]
    fn state_serialises_to_plain_json() {
        let mut r = Run::within(
            "repeat 2 (e a x re#(\\d+)#) max(m) before e b y re#(.*)# setting(y)",
            1e9,
        );
        r.send_at("e:a", json!({"x": "4"}), 5.0);
        r.send_at("e:a", json!({"x": "7"}), 6.0);
        let j = serde_json::to_value(&r.st).unwrap();
        assert_eq!(
            j,
            json!({
                "nodes": [3],
                "setting": [["m", ["4", "7"]]],
                "aggregates": [["m", ["4", "7"]]],
                "starttime": 5.0,
            })
        );
        let back: RuleState = serde_json::from_value(j).unwrap();
        assert_eq!(back, r.st);
        assert_eq!(
            r.send_at("e:b", json!({"y": "k"}), 7.0),
            Some(json!({"m": 7, "y": "k"}))
        );
    }

    // ------------------------------------------------------ compile errors

    #[test]
    fn any_bounds() {
        assert!(compile_err("any 0 (e a, e b)").contains("between 1 and 2"));
        assert!(compile_err("any 3 (e a, e b)").contains("between 1 and 2"));
    }

    #[test]
    fn permutation_blow_up_is_refused() {
        let args: Vec<String> = (0..9).map(|i| format!("e a{i}")).collect();
        let nine = args.join(", ");
        assert!(compile_err(&format!("and({nine})")).contains("at most 8"));
        assert!(compile_err(&format!("any 2 ({nine})")).contains("at most 8"));
        // eight is fine, and fires once all eight have arrived in any order
        let eight = args[..8].join(", ");
        let mut r = Run::new(&format!("and({eight})"));
        for i in [3, 1, 7, 0, 2, 6, 5] {
            assert_eq!(r.send(&format!("e:a{i}"), json!({})), None);
        }
        assert!(r.send("e:a4", json!({})).is_some());
        let m = compile(&format!("any 8 ({eight})"));
        assert_eq!(
            m.transition_count(),
            compile(&format!("and({eight})")).transition_count()
        );
    }

    #[test]
    fn size_limit() {
        assert!(compile_err("count 300000 (e a)").contains("too large"));
        assert!(
            compile_err("and(count 5000 (e a), e b, e c, e d, e f, e g)").contains("too large")
        );
        assert_eq!(compile("count 1000 (e a)").transition_count(), 1000);
    }

    #[test]
    fn bad_regex_is_a_compile_error_at_its_matcher() {
        let e = expr("e a x re#(#");
        let err = Matcher::compile(&e, None).unwrap_err();
        assert!(
            err.message.contains("invalid regular expression"),
            "{}",
            err.message
        );
        let EventKind::Simple(s) = &e.kind else {
            unreachable!()
        };
        assert_eq!(err.span, Some(s.matchers[0].span));
    }

    #[test]
    fn aggregate_shape_errors() {
        assert!(compile_err("count 0 (e a)").contains("never fires"));
        let mut e = expr("count 2 (e a x re#(.)#) max(m)");
        if let EventKind::Aggregate { aggregator, .. } = &mut e.kind {
            *aggregator = Some(Aggregator {
                op: "median".into(),
                names: vec![Ident {
                    name: "m".into(),
                    span: Span::default(),
                }],
                span: Span::new(3, 4),
            });
        }
        let err = Matcher::compile(&e, None).unwrap_err();
        assert!(err.message.contains("unknown aggregator"));
        assert_eq!(err.span, Some(Span::new(3, 4)));
        let inner = expr("e a before e b");
        let e = EventExpr {
            span: inner.span,
            kind: EventKind::Aggregate {
                kind: AggregateKind::Repeat,
                n: 2,
                inner: Box::new(inner),
                aggregator: None,
            },
        };
        let err = Matcher::compile(&e, None).unwrap_err();
        assert!(err.message.contains("one simple event expression"));
    }
}
