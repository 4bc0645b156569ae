//! KRL values (docs/spec/krl-language.md 2): null, boolean, number, string, array,
//! map (insertion ordered), regex, function and action, with the
//! conversions every operator and library function uses — string
//! conversion `S(x)`, number conversion `N(x)`, truthiness, deep equality
//! and the JSON mapping.
//!
//! Values are immutable and cheap to clone: strings and collections are
//! `Arc`s (change them with `Arc::make_mut`, which copies only when shared).
//! `Value` is 24 bytes (asserted below).

use super::error::RuntimeError;
use super::pattern::{self, Budget, Match, Stop};
use indexmap::IndexMap;
use std::fmt;
use std::sync::Arc;

/// Map keys are strings; entries keep insertion order. Hashed with
/// foldhash, seeded at random per process (std's SipHash cost more than a
/// tenth of a simple event's instructions): make one with `Map::default()`
/// or `map_with_capacity`.
pub type Map = IndexMap<Arc<str>, Value, foldhash::fast::RandomState>;

/// An empty map with room for `n` entries.
pub fn map_with_capacity(n: usize) -> Map {
    Map::with_capacity_and_hasher(n, Default::default())
}

/// A KRL value.
#[derive(Clone, Default)]
pub enum Value {
    /// `null` (also what NaN becomes)
    #[default]
    Null,
    /// `true` / `false`
    Bool(bool),
    /// an IEEE double, always finite in practice
    Number(f64),
    /// a string
    Str(Arc<str>),
    /// an array
    Array(Arc<Vec<Value>>),
    /// a map with string keys, insertion ordered
    Map(Arc<Map>),
    /// a regular expression (ECMAScript syntax)
    Regex(Arc<Regex>),
    /// a function: a closure or a library function
    Function(Arc<dyn Callable>),
    /// an action: a defaction or a built-in action
    Action(Arc<dyn Callable>),
}

/// What can be called: closures, defactions, library functions, module
/// members. The evaluator binds arguments to [`Callable::params`] before
/// calling (positional first, then named; missing ones are absent from the
/// end of `args`, so "omitted" and "null" can be told apart by length).
pub trait Callable: Send + Sync {
    /// The name used in error messages (`"map"`, `"myFunction"`).
    fn name(&self) -> &str;
    /// Parameter names, for named arguments.
    fn params(&self) -> &[Arc<str>];
    /// Runs it.
    fn call(&self, cx: &mut dyn Context, args: Vec<Value>) -> Result<Value, RuntimeError>;
    /// For the evaluator, which runs its own closures directly.
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }
}

/// What a running function may ask of the evaluator.
pub trait Context {
    /// Calls a function value (callbacks of `map`, `filter`, `reduce`...).
    fn call(&mut self, f: &Value, args: Vec<Value>) -> Result<Value, RuntimeError>;
    /// Writes a debug line (`klog`).
    fn log(&mut self, message: &str);
    /// The steps a backtracking regex search may take (runtime/pattern):
    /// what is left of the evaluation's `max_ops`.
    fn regex_budget(&mut self) -> Budget {
        Budget::new(pattern::DEFAULT_STEPS)
    }
    /// Counts the steps a search took against the evaluation's limit.
    fn regex_spent(&mut self, _budget: &Budget) -> Result<(), RuntimeError> {
        Ok(())
    }
}

/// Runs a regex search with a budget from `cx`, then counts what it took.
/// The search's own error, if any, comes first.
pub fn searching<T>(
    cx: &mut dyn Context,
    search: impl FnOnce(&mut Budget) -> Result<T, RuntimeError>,
) -> Result<T, RuntimeError> {
    let mut budget = cx.regex_budget();
    let found = search(&mut budget);
    let spent = cx.regex_spent(&budget);
    found.and_then(|v| spent.map(|_| v))
}

/// A compiled regular expression with its KRL source and flags.
pub struct Regex {
    /// The pattern as written.
    pub source: String,
    /// `g`, `i`, `m` in that order.
    pub flags: String,
    /// The compiled form (runtime/pattern: a linear-time engine where it
    /// can, a step-bounded backtracker where it must).
    pub compiled: pattern::Compiled,
}

impl Regex {
    /// Compiles `source` with `flags` (any of `g`, `i`, `m`).
    pub fn new(source: &str, flags: &str) -> Result<Regex, RuntimeError> {
        let mut engine_flags = String::new();
        let mut canonical = String::new();
        for f in ['g', 'i', 'm'] {
            if flags.contains(f) {
                canonical.push(f);
                if f != 'g' {
                    engine_flags.push(f);
                }
            }
        }
        let invalid = |e: &dyn fmt::Display| {
            RuntimeError::new(format!("invalid regular expression re#{source}#: {e}"))
        };
        // regress, a JavaScript engine, gives the syntax errors.
        regress::Regex::with_flags(source, engine_flags.as_str()).map_err(|e| invalid(&e))?;
        let compiled = pattern::Compiled::new(source, flags.contains('i'), flags.contains('m'))
            .map_err(|e| invalid(&e))?;
        Ok(Regex {
            source: source.to_string(),
            flags: canonical,
            compiled,
        })
    }

    /// Is the `g` flag set?
    pub fn global(&self) -> bool {
        self.flags.contains('g')
    }

    fn stopped(&self, stop: Stop, budget: &Budget) -> RuntimeError {
        match stop {
            Stop::Steps => RuntimeError::new(format!(
                "re#{}#{} took more than {} steps of backtracking on this input: stopped",
                self.source, self.flags, budget.used
            )),
            Stop::Stack => RuntimeError::new(format!(
                "re#{}#{} needed more than {} backtracking positions on this input: stopped",
                self.source,
                self.flags,
                pattern::backtrack::MAX_STACK
            )),
        }
    }

    /// Whether it matches anywhere in `text`.
    pub fn is_match(&self, text: &str, budget: &mut Budget) -> Result<bool, RuntimeError> {
        self.compiled
            .is_match(text, budget)
            .map_err(|e| self.stopped(e, budget))
    }

    /// The first match at or after byte `start`.
    pub fn find_at(
        &self,
        text: &str,
        start: usize,
        budget: &mut Budget,
    ) -> Result<Option<Match>, RuntimeError> {
        self.compiled
            .find_at(text, start, budget)
            .map_err(|e| self.stopped(e, budget))
    }

    /// Every match (JavaScript's global search).
    pub fn find_all(&self, text: &str, budget: &mut Budget) -> Result<Vec<Match>, RuntimeError> {
        self.compiled
            .find_all(text, budget)
            .map_err(|e| self.stopped(e, budget))
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => write!(f, "null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Number(n) => write!(f, "{}", number_to_string(*n)),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Array(a) => f.debug_list().entries(a.iter()).finish(),
            Value::Map(m) => f.debug_map().entries(m.iter()).finish(),
            Value::Regex(r) => write!(f, "re#{}#{}", r.source, r.flags),
            Value::Function(c) => write!(f, "[Function {}]", c.name()),
            Value::Action(c) => write!(f, "[Action {}]", c.name()),
        }
    }
}

impl PartialEq for Value {
    /// Deep equality (docs/spec/krl-language.md 2.6).
    fn eq(&self, other: &Value) -> bool {
        equals(self, other)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(Arc::from(s))
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(Arc::from(s))
    }
}

impl From<f64> for Value {
    fn from(n: f64) -> Value {
        Value::number(n)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Value {
        Value::Array(Arc::new(v))
    }
}

impl From<Map> for Value {
    fn from(m: Map) -> Value {
        Value::Map(Arc::new(m))
    }
}

impl Value {
    /// A number; NaN becomes null (docs/spec/krl-language.md 2.3).
    pub fn number(n: f64) -> Value {
        if n.is_nan() {
            Value::Null
        } else {
            Value::Number(n)
        }
    }

    /// The `typeof()` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "Null",
            Value::Bool(_) => "Boolean",
            Value::Number(_) => "Number",
            Value::Str(_) => "String",
            Value::Array(_) => "Array",
            Value::Map(_) => "Map",
            Value::Regex(_) => "RegExp",
            Value::Function(_) => "Function",
            Value::Action(_) => "Action",
        }
    }

    /// JavaScript truthiness (docs/spec/krl-language.md 2.2).
    pub fn truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => *n != 0.0 && !n.is_nan(),
            Value::Str(s) => !s.is_empty(),
            _ => true,
        }
    }

    /// Is it null?
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// String conversion `S(x)` (docs/spec/krl-language.md 2.4).
    pub fn to_krl_string(&self) -> String {
        match self {
            Value::Str(s) => s.to_string(),
            Value::Null => "null".into(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => number_to_string(*n),
            Value::Regex(r) => format!("re#{}#{}", r.source, r.flags),
            Value::Array(_) => "[Array]".into(),
            Value::Map(_) => "[Map]".into(),
            Value::Function(_) => "[Function]".into(),
            Value::Action(_) => "[Action]".into(),
        }
    }

    /// Number conversion `N(x)` (docs/spec/krl-language.md 2.5); `None` is "no number".
    pub fn to_number(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            Value::Null => Some(0.0),
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Value::Str(s) => parse_js_number(s),
            Value::Array(a) => Some(a.len() as f64),
            Value::Map(m) => Some(m.len() as f64),
            _ => None,
        }
    }

    /// The value to serialize as [`Value::to_json`] would give it, written
    /// as it goes rather than built first (an event's answer).
    pub fn as_json(&self) -> AsJson<'_> {
        AsJson(self)
    }

    /// The value as JSON (docs/spec/krl-language.md 2.7): functions and actions are dropped
    /// from maps and become null in arrays; regexes become `{}`.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null | Value::Function(_) | Value::Action(_) => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Number(n) => json_number(*n),
            Value::Str(s) => J::String(s.to_string()),
            Value::Array(a) => J::Array(a.iter().map(Value::to_json).collect()),
            Value::Map(m) => J::Object(
                m.iter()
                    .filter(|(_, v)| !matches!(v, Value::Function(_) | Value::Action(_)))
                    .map(|(k, v)| (k.to_string(), v.to_json()))
                    .collect(),
            ),
            Value::Regex(_) => J::Object(Default::default()),
        }
    }

    /// A value from JSON.
    pub fn from_json(j: &serde_json::Value) -> Value {
        use serde_json::Value as J;
        match j {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => Value::number(n.as_f64().unwrap_or(f64::NAN)),
            J::String(s) => Value::from(s.as_str()),
            J::Array(a) => Value::from(a.iter().map(Value::from_json).collect::<Vec<_>>()),
            J::Object(o) => Value::from(
                o.iter()
                    .map(|(k, v)| (Arc::from(k.as_str()), Value::from_json(v)))
                    .collect::<Map>(),
            ),
        }
    }
}

/// A value serialized as its [`Value::to_json`] (see [`Value::as_json`]).
pub struct AsJson<'a>(&'a Value);

impl serde::Serialize for AsJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self.0 {
            Value::Null | Value::Function(_) | Value::Action(_) => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            // As `json_number`.
            Value::Number(n)
                if n.is_finite() && n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 =>
            {
                s.serialize_i64(*n as i64)
            }
            Value::Number(n) if n.is_finite() => s.serialize_f64(*n),
            Value::Number(_) => s.serialize_unit(),
            Value::Str(v) => s.serialize_str(v),
            Value::Array(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a.iter() {
                    seq.serialize_element(&AsJson(v))?;
                }
                seq.end()
            }
            Value::Map(m) => {
                let mut map = s.serialize_map(None)?;
                for (k, v) in m.iter() {
                    if !matches!(v, Value::Function(_) | Value::Action(_)) {
                        map.serialize_entry(&**k, &AsJson(v))?;
                    }
                }
                map.end()
            }
            Value::Regex(_) => s.serialize_map(Some(0))?.end(),
        }
    }
}

/// A number as JSON: integers stay integers (`2`, not `2.0`).
pub fn json_number(n: f64) -> serde_json::Value {
    if n.is_finite() && n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
        serde_json::Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map_or(serde_json::Value::Null, serde_json::Value::Number)
    }
}

/// JavaScript's `Number.prototype.toString` (docs/spec/krl-language.md 2.3).
pub fn number_to_string(n: f64) -> String {
    if n == 0.0 {
        return "0".into();
    }
    if n.is_nan() {
        return "null".into();
    }
    if n.is_infinite() {
        return if n > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    ryu_js::Buffer::new().format(n).to_string()
}

/// JavaScript `Number(s)` after trimming; `None` for NaN (docs/spec/krl-language.md 2.5).
pub fn parse_js_number(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() {
        return Some(0.0);
    }
    let radix = |p: &str, r: u32| u64::from_str_radix(p, r).ok().map(|v| v as f64);
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return radix(h, 16);
    }
    if let Some(b) = t.strip_prefix("0b").or_else(|| t.strip_prefix("0B")) {
        return radix(b, 2);
    }
    if let Some(o) = t.strip_prefix("0o").or_else(|| t.strip_prefix("0O")) {
        return radix(o, 8);
    }
    match t {
        "Infinity" | "+Infinity" => return Some(f64::INFINITY),
        "-Infinity" => return Some(f64::NEG_INFINITY),
        _ => {}
    }
    // Rust accepts "inf", "nan" and "1_0" spellings that JavaScript does not.
    let ok = t
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if !ok {
        return None;
    }
    t.parse::<f64>().ok().filter(|n| !n.is_nan())
}

/// Deep equality without coercion (docs/spec/krl-language.md 2.6).
pub fn equals(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Array(x), Value::Array(y)) => {
            Arc::ptr_eq(x, y)
                || (x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| equals(p, q)))
        }
        (Value::Map(x), Value::Map(y)) => {
            Arc::ptr_eq(x, y)
                || (x.len() == y.len()
                    && x.iter()
                        .all(|(k, v)| y.get(k).is_some_and(|w| equals(v, w))))
        }
        (Value::Regex(x), Value::Regex(y)) => x.source == y.source && x.flags == y.flags,
        (Value::Function(x), Value::Function(y)) | (Value::Action(x), Value::Action(y)) => {
            Arc::ptr_eq(x, y)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_json_writes_the_text_to_json_gives() {
        use crate::runtime::stdlib::testing::{func, re};
        let m = |pairs: Vec<(&str, Value)>| {
            Value::from(
                pairs
                    .into_iter()
                    .map(|(k, v)| (Arc::from(k), v))
                    .collect::<Map>(),
            )
        };
        let values = vec![
            Value::Null,
            Value::Bool(true),
            Value::from(2.0),
            Value::from(-0.0),
            Value::from(0.1 + 0.2),
            Value::from(1e21),
            Value::from(9_007_199_254_740_993.0),
            Value::from(f64::INFINITY),
            Value::from(f64::NAN),
            Value::from("quote \" and \\ and \u{1} and é"),
            re("a+", "gi"),
            func(|_| Value::Null),
            Value::from(vec![Value::from(1.5), func(|_| Value::Null), Value::Null]),
            // Insertion order kept, functions dropped, nested values.
            m(vec![
                ("z", Value::from(1.0)),
                (
                    "a",
                    m(vec![("f", func(|_| Value::Null)), ("r", re("x", ""))]),
                ),
                ("f", func(|_| Value::Null)),
                ("m", Value::from(vec![m(vec![])])),
            ]),
        ];
        for v in values {
            assert_eq!(
                serde_json::to_string(&v.as_json()).unwrap(),
                serde_json::to_string(&v.to_json()).unwrap(),
                "{v:?}"
            );
        }
    }

    #[test]
    fn value_is_small() {
        assert!(std::mem::size_of::<Value>() <= 24);
    }

    #[test]
    fn numbers_print_like_javascript() {
        assert_eq!(number_to_string(2.0), "2");
        assert_eq!(number_to_string(-0.0), "0");
        assert_eq!(number_to_string(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(number_to_string(1e21), "1e+21");
        assert_eq!(number_to_string(1e-7), "1e-7");
        assert_eq!(number_to_string(123456.5), "123456.5");
    }

    #[test]
    fn strings_convert_like_javascript_number() {
        assert_eq!(parse_js_number(""), Some(0.0));
        assert_eq!(parse_js_number(" 3.5 "), Some(3.5));
        assert_eq!(parse_js_number("+5"), Some(5.0));
        assert_eq!(parse_js_number("1e3"), Some(1000.0));
        assert_eq!(parse_js_number("0x1F"), Some(31.0));
        assert_eq!(parse_js_number("0b101"), Some(5.0));
        assert_eq!(parse_js_number("0o17"), Some(15.0));
        assert_eq!(parse_js_number("12abc"), None);
        assert_eq!(parse_js_number("1,000"), None);
        assert_eq!(parse_js_number("2018-03-07"), None);
        assert_eq!(parse_js_number("inf"), None);
    }

    #[test]
    fn string_conversion() {
        assert_eq!(Value::Null.to_krl_string(), "null");
        assert_eq!(Value::from(vec![Value::Null]).to_krl_string(), "[Array]");
        assert_eq!(Value::from(Map::default()).to_krl_string(), "[Map]");
        assert_eq!(Value::Bool(false).to_krl_string(), "false");
        let re = Value::Regex(Arc::new(Regex::new("a.b", "ig").unwrap()));
        assert_eq!(re.to_krl_string(), "re#a.b#gi");
    }

    #[test]
    fn truthiness() {
        for v in [
            Value::Null,
            Value::Bool(false),
            Value::Number(0.0),
            Value::from(""),
        ] {
            assert!(!v.truthy(), "{v:?}");
        }
        for v in [
            Value::from("0"),
            Value::from("false"),
            Value::from(vec![]),
            Value::from(Map::default()),
        ] {
            assert!(v.truthy(), "{v:?}");
        }
    }

    #[test]
    fn deep_equality() {
        let a = Value::from_json(&serde_json::json!({"a": [1, {"b": null}], "c": "x"}));
        let b = Value::from_json(&serde_json::json!({"c": "x", "a": [1.0, {"b": null}]}));
        assert_eq!(a, b);
        assert_ne!(Value::from("1"), Value::Number(1.0));
        assert_ne!(Value::Null, Value::Number(0.0));
    }

    #[test]
    fn json_round_trip_keeps_order_and_integers() {
        let j = serde_json::json!({"z": 1, "a": [2.5, "s", true, null]});
        let v = Value::from_json(&j);
        assert_eq!(
            serde_json::to_string(&v.to_json()).unwrap(),
            r#"{"z":1,"a":[2.5,"s",true,null]}"#
        );
    }
}
