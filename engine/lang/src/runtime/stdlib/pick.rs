//! Classic `pick(path, force_array)`: JSONPath selection (docs/spec/krl-stdlib.md 7,
//! docs/spec/krl-language.md 10.8).
//!
//! Supported: `$`; `.name` (any characters but `.`, `[`, `(`) and `.*`;
//! `['name']` / `["name"]`; `[n]` (negative from the end); `[*]`;
//! `[a,b]` lists of keys, indexes and slices; `[start:end:step]`;
//! `..name`, `..*`, `..[...]` (recursive descent, document order); filters
//! `[?(@.key op value)]` with `==`, `!=`, `<`, `<=`, `>`, `>=` against a
//! number, a quoted string, `true`, `false` or `null` (or `[?(@.key)]`:
//! truthy); and the classic `[(@.length-n)]`. Anything else is an error.

use super::{arg, array, cmp_utf16};
use crate::runtime::error::RuntimeError;
use crate::runtime::value::{equals, Context, Value};
use std::cmp::Ordering;

type R = Result<Value, RuntimeError>;

pub fn pick(_cx: &mut dyn Context, args: &[Value]) -> R {
    let x = arg(args, 0);
    let path = arg(args, 1).to_krl_string();
    let force = arg(args, 2).truthy();
    let steps = parse(&path)
        .map_err(|why| RuntimeError::new(format!("pick: invalid JSONPath {path:?}: {why}")))?;
    let mut nodes = vec![x.clone()];
    for step in &steps {
        let mut next = Vec::new();
        for node in &nodes {
            if step.recursive {
                descend(node, &step.selector, &mut next);
            } else {
                select(node, &step.selector, &mut next);
            }
        }
        nodes = next;
    }
    Ok(match nodes.len() {
        1 if !force => nodes.pop().unwrap_or(Value::Null),
        0 if !force => Value::Null,
        _ => array(nodes),
    })
}

#[derive(Debug, Clone)]
enum Selector {
    Key(String),
    Index(i64),
    Wildcard,
    Slice(Option<i64>, Option<i64>, i64),
    Filter(Filter),
    Union(Vec<Selector>),
}

#[derive(Debug, Clone)]
struct Filter {
    /// Keys from `@` to the compared value.
    path: Vec<String>,
    /// Operator and operand; `None` tests truthiness.
    test: Option<(Op, Value)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug)]
struct Step {
    recursive: bool,
    selector: Selector,
}

// ---------------------------------------------------------------------------
// Evaluation

fn children(node: &Value) -> Vec<&Value> {
    match node {
        Value::Array(items) => items.iter().collect(),
        Value::Map(m) => m.values().collect(),
        _ => vec![],
    }
}

fn child<'a>(node: &'a Value, key: &str) -> Option<&'a Value> {
    match node {
        Value::Map(m) => m.get(key),
        Value::Array(items) => {
            let i: usize = key.parse().ok()?;
            if i.to_string() != key {
                return None;
            }
            items.get(i)
        }
        _ => None,
    }
}

fn select(node: &Value, sel: &Selector, out: &mut Vec<Value>) {
    match sel {
        Selector::Key(k) => out.extend(child(node, k).cloned()),
        Selector::Index(i) => match node {
            Value::Array(items) => {
                let len = items.len() as i64;
                let at = if *i < 0 { len + i } else { *i };
                if (0..len).contains(&at) {
                    out.push(items[at as usize].clone());
                }
            }
            Value::Map(m) if *i >= 0 => out.extend(m.get(i.to_string().as_str()).cloned()),
            _ => {}
        },
        Selector::Wildcard => out.extend(children(node).into_iter().cloned()),
        Selector::Slice(start, end, step) => {
            if let Value::Array(items) = node {
                let len = items.len() as i64;
                let norm = |x: i64| if x < 0 { (len + x).max(0) } else { x.min(len) };
                let s = start.map_or(0, norm);
                let e = end.map_or(len, norm);
                let mut i = s;
                while i < e {
                    out.push(items[i as usize].clone());
                    i += step;
                }
            }
        }
        Selector::Filter(f) => {
            out.extend(children(node).into_iter().filter(|c| f.holds(c)).cloned());
        }
        Selector::Union(parts) => {
            for p in parts {
                select(node, p, out);
            }
        }
    }
}

/// `..selector`: the selector applied to `node` and to every descendant,
/// in document (pre-)order.
fn descend(node: &Value, sel: &Selector, out: &mut Vec<Value>) {
    select(node, sel, out);
    for c in children(node) {
        descend(c, sel, out);
    }
}

impl Filter {
    fn holds(&self, node: &Value) -> bool {
        let mut cur = Some(node);
        for k in &self.path {
            cur = cur.and_then(|c| child(c, k));
        }
        match (&self.test, cur) {
            (None, v) => v.is_some_and(Value::truthy),
            (Some((op, _)), None) => *op == Op::Ne,
            (Some((op, want)), Some(have)) => match op {
                Op::Eq => loose_eq(have, want),
                Op::Ne => !loose_eq(have, want),
                _ => match order(have, want) {
                    None => false,
                    Some(o) => match op {
                        Op::Lt => o == Ordering::Less,
                        Op::Le => o != Ordering::Greater,
                        Op::Gt => o == Ordering::Greater,
                        _ => o != Ordering::Less,
                    },
                },
            },
        }
    }
}

/// `==` as the JavaScript of classic JSONPath filters did it: a number and
/// a numeric string are equal.
fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Str(_)) => b.to_number() == Some(*x),
        (Value::Str(_), Value::Number(y)) => a.to_number() == Some(*y),
        _ => equals(a, b),
    }
}

/// Relational comparison: two strings by code units, else numerically when
/// both convert; incomparable otherwise.
fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => Some(cmp_utf16(x, y)),
        _ => {
            let x = a.to_number()?;
            let y = b.to_number()?;
            x.partial_cmp(&y)
        }
    }
}

// ---------------------------------------------------------------------------
// Parsing

fn parse(path: &str) -> Result<Vec<Step>, String> {
    let mut p = Parser {
        s: path.trim(),
        i: 0,
    };
    let mut steps = Vec::new();
    if p.eat("$") {
        // the root
    } else if !p.at_end() && !p.peek_is('.') && !p.peek_is('[') {
        // A bare `name...` is relative to the root.
        steps.push(Step {
            recursive: false,
            selector: p.name()?,
        });
    }
    while !p.at_end() {
        if p.eat("..") {
            let selector = if p.peek_is('[') {
                p.bracket()?
            } else {
                p.name()?
            };
            steps.push(Step {
                recursive: true,
                selector,
            });
        } else if p.eat(".") {
            steps.push(Step {
                recursive: false,
                selector: p.name()?,
            });
        } else if p.peek_is('[') {
            steps.push(Step {
                recursive: false,
                selector: p.bracket()?,
            });
        } else {
            return Err(format!("unexpected {:?}", p.rest()));
        }
    }
    Ok(steps)
}

struct Parser<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.i..]
    }
    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }
    fn peek_is(&self, c: char) -> bool {
        self.rest().starts_with(c)
    }
    fn eat(&mut self, t: &str) -> bool {
        if self.rest().starts_with(t) {
            self.i += t.len();
            true
        } else {
            false
        }
    }

    /// A dotted name (up to `.`, `[` or `(`) or `*`.
    fn name(&mut self) -> Result<Selector, String> {
        let rest = self.rest();
        let end = rest.find(['.', '[', '(']).unwrap_or(rest.len());
        if end == 0 {
            return Err(format!("a name is missing before {rest:?}"));
        }
        self.i += end;
        let name = &rest[..end];
        Ok(if name == "*" {
            Selector::Wildcard
        } else {
            Selector::Key(name.to_string())
        })
    }

    /// `[...]`, up to the matching `]` (outside quotes and parentheses).
    fn bracket(&mut self) -> Result<Selector, String> {
        let rest = self.rest();
        let mut depth = 0i32;
        let mut quote: Option<char> = None;
        let mut close = None;
        let mut chars = rest.char_indices().skip(1);
        while let Some((at, c)) = chars.next() {
            match (quote, c) {
                (Some(_), '\\') => {
                    chars.next();
                }
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"') => quote = Some(c),
                (None, '(') => depth += 1,
                (None, ')') => depth -= 1,
                (None, ']') if depth <= 0 => {
                    close = Some(at);
                    break;
                }
                _ => {}
            }
        }
        let close = close.ok_or("a ']' is missing")?;
        let inner = rest[1..close].trim();
        self.i += close + 1;
        bracket_selector(inner)
    }
}

fn bracket_selector(inner: &str) -> Result<Selector, String> {
    if inner == "*" {
        return Ok(Selector::Wildcard);
    }
    if let Some(expr) = inner.strip_prefix('?') {
        let expr = expr.trim();
        let body = expr
            .strip_prefix('(')
            .and_then(|e| e.strip_suffix(')'))
            .ok_or_else(|| format!("a filter must be ?(...): {inner:?}"))?;
        return Ok(Selector::Filter(parse_filter(body.trim())?));
    }
    if let Some(script) = inner.strip_prefix('(') {
        // The classic `(@.length-n)`.
        let body: String = script
            .strip_suffix(')')
            .unwrap_or(script)
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if let Some(n) = body.strip_prefix("@.length-") {
            if let Ok(n) = n.parse::<i64>() {
                return Ok(Selector::Index(-n));
            }
        }
        return Err(format!("unsupported script expression {inner:?}"));
    }
    let parts = split_top_level(inner, ',')?;
    let mut selectors = parts
        .iter()
        .map(|p| bracket_item(p.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(if selectors.len() == 1 {
        selectors.pop().unwrap_or(Selector::Wildcard)
    } else {
        Selector::Union(selectors)
    })
}

/// Splits on `sep` outside quotes.
fn split_top_level(s: &str, sep: char) -> Result<Vec<String>, String> {
    let mut parts = vec![String::new()];
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        let cur = parts.last_mut().ok_or("empty")?;
        match quote {
            Some(q) => {
                cur.push(c);
                if c == '\\' {
                    cur.extend(chars.next());
                } else if c == q {
                    quote = None;
                }
            }
            None if c == sep => parts.push(String::new()),
            None => {
                if c == '\'' || c == '"' {
                    quote = Some(c);
                }
                cur.push(c);
            }
        }
    }
    if quote.is_some() {
        return Err(format!("unterminated quote in {s:?}"));
    }
    Ok(parts)
}

fn bracket_item(item: &str) -> Result<Selector, String> {
    if item.is_empty() {
        return Err("an empty [] item".into());
    }
    if let Some(s) = quoted(item) {
        return Ok(Selector::Key(s?));
    }
    if item == "*" {
        return Ok(Selector::Wildcard);
    }
    if item.contains(':') {
        let bounds: Vec<&str> = item.split(':').map(str::trim).collect();
        if bounds.len() > 3 {
            return Err(format!("bad slice {item:?}"));
        }
        let int = |s: &str| -> Result<Option<i64>, String> {
            if s.is_empty() {
                Ok(None)
            } else {
                s.parse()
                    .map(Some)
                    .map_err(|_| format!("bad slice bound {s:?}"))
            }
        };
        let step = match bounds.get(2) {
            Some(s) => int(s)?.unwrap_or(1),
            None => 1,
        };
        if step < 1 {
            return Err(format!("unsupported slice step in {item:?}"));
        }
        return Ok(Selector::Slice(int(bounds[0])?, int(bounds[1])?, step));
    }
    if let Ok(i) = item.parse::<i64>() {
        return Ok(Selector::Index(i));
    }
    // A bare word is a key.
    Ok(Selector::Key(item.to_string()))
}

/// The text of a quoted item (`'...'` or `"..."`, backslash escapes).
fn quoted(item: &str) -> Option<Result<String, String>> {
    let q = item.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    if item.len() < 2 || !item.ends_with(q) {
        return Some(Err(format!("unterminated quote in {item:?}")));
    }
    let mut out = String::new();
    let mut chars = item[1..item.len() - 1].chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.extend(chars.next());
        } else {
            out.push(c);
        }
    }
    Some(Ok(out))
}

fn parse_filter(body: &str) -> Result<Filter, String> {
    let rest = body
        .strip_prefix('@')
        .ok_or_else(|| format!("a filter must start with @: {body:?}"))?;
    // The path from @: `.name` or `['name']` / `[n]` segments.
    let mut path = Vec::new();
    let mut r = rest;
    loop {
        if let Some(after) = r.strip_prefix('.') {
            let end = after
                .find(|c: char| c.is_whitespace() || "=!<>.[".contains(c))
                .unwrap_or(after.len());
            if end == 0 {
                return Err(format!("a name is missing in filter {body:?}"));
            }
            path.push(after[..end].to_string());
            r = &after[end..];
        } else if r.starts_with('[') {
            let close = r.find(']').ok_or("a ']' is missing in a filter")?;
            let item = r[1..close].trim();
            match quoted(item) {
                Some(s) => path.push(s?),
                None => path.push(item.to_string()),
            }
            r = &r[close + 1..];
        } else {
            break;
        }
    }
    let r = r.trim();
    if r.is_empty() {
        return Ok(Filter { path, test: None });
    }
    let ops = [
        ("===", Op::Eq),
        ("!==", Op::Ne),
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("<", Op::Lt),
        (">", Op::Gt),
    ];
    let (op, operand) = ops
        .iter()
        .find_map(|(t, op)| r.strip_prefix(t).map(|rest| (*op, rest.trim())))
        .ok_or_else(|| format!("unsupported filter {body:?}"))?;
    let value = match operand {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "null" => Value::Null,
        o => match quoted(o) {
            Some(s) => Value::from(s?),
            None => match o.parse::<f64>() {
                Ok(n) if n.is_finite() => Value::Number(n),
                _ => return Err(format!("unsupported filter operand {o:?}")),
            },
        },
    };
    Ok(Filter {
        path,
        test: Some((op, value)),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{run, v};
    use serde_json::json;

    fn store() -> serde_json::Value {
        json!({"book": [{"t": "A", "p": 8}, {"t": "B", "p": 12}]})
    }

    #[test]
    fn spec_examples() {
        check!("pick"(json!({"+15550001": "Sam"}), "$.+15550001") => "Sam");
        check!("pick"(json!({"a": [{"b": 1}, {"b": 2}]}), "$..b") => json!([1, 2]));
        check!("pick"(json!({"a": [{"b": 1}]}), "$..b", true) => json!([1]));
        let dir = json!({"+15550001": "Sam", "+15550002": "Kim"});
        check!("pick"(dir.clone(), "$.+15550002") => "Kim");
        check!("pick"(dir, "$.+15559999") => ());
        check!("pick"(store(), "$..t") => json!(["A", "B"]));
        check!("pick"(store(), "$.book[?(@.p < 10)].t") => "A");
        check!("pick"(store(), "$.book[?(@.p < 10)].t", true) => json!(["A"]));
    }

    #[test]
    fn selectors() {
        let doc = json!({"a": {"b c": [10, 20, 30, 40]}, "x": 1});
        check!("pick"(doc.clone(), "$") => doc.clone());
        check!("pick"(doc.clone(), "$.a['b c'][1]") => 20);
        check!("pick"(doc.clone(), "$.a[\"b c\"][-1]") => 40);
        check!("pick"(doc.clone(), "$.a['b c'][9]") => ());
        check!("pick"(doc.clone(), "$.a['b c'][9]", true) => json!([]));
        check!("pick"(doc.clone(), "$.a['b c'][0,2]") => json!([10, 30]));
        check!("pick"(doc.clone(), "$.a['b c'][1:3]") => json!([20, 30]));
        check!("pick"(doc.clone(), "$.a['b c'][:2]") => json!([10, 20]));
        check!("pick"(doc.clone(), "$.a['b c'][-2:]") => json!([30, 40]));
        check!("pick"(doc.clone(), "$.a['b c'][::2]") => json!([10, 30]));
        check!("pick"(doc.clone(), "$.a['b c'][*]") => json!([10, 20, 30, 40]));
        check!("pick"(doc.clone(), "$.a['b c'].1") => 20);
        check!("pick"(doc.clone(), "$.a['b c'][(@.length-1)]") => 40);
        check!("pick"(doc.clone(), "$.*") => json!([{"b c": [10, 20, 30, 40]}, 1]));
        check!("pick"(doc.clone(), "$['x','a','zz']") => json!([1, {"b c": [10, 20, 30, 40]}]));
        check!("pick"(doc.clone(), "x") => 1);
        check!("pick"(doc, "$.x.y") => ());
        check!("pick"(5, "$.a") => ());
        check!("pick"(json!({"0": "zero"}), "$[0]") => "zero");
    }

    #[test]
    fn recursive_descent_is_in_document_order() {
        let doc = json!({"b": 1, "c": {"b": 2, "d": [{"b": 3}, {"e": {"b": 4}}]}});
        check!("pick"(doc.clone(), "$..b") => json!([1, 2, 3, 4]));
        check!("pick"(doc.clone(), "$.c..b") => json!([2, 3, 4]));
        check!("pick"(doc.clone(), "$..d[0].b") => 3);
        check!("pick"(doc, "$..['e']") => json!({"b": 4}));
        check!("pick"(json!([[1, [2]]]), "$..*") => json!([[1, [2]], 1, [2], 2]));
    }

    #[test]
    fn filters() {
        let people = json!({"p": [
            {"name": "Al", "age": 30, "tags": {"vip": true}},
            {"name": "Bo", "age": "25"},
            {"name": "Cy", "age": 41, "tags": {"vip": false}}
        ]});
        check!("pick"(people.clone(), "$.p[?(@.age > 28)].name") => json!(["Al", "Cy"]));
        check!("pick"(people.clone(), "$.p[?(@.age == 25)].name") => "Bo");
        check!("pick"(people.clone(), "$.p[?(@.age <= 30)].name") => json!(["Al", "Bo"]));
        check!("pick"(people.clone(), "$.p[?(@.name != 'Al')].name") => json!(["Bo", "Cy"]));
        check!("pick"(people.clone(), "$.p[?(@.name == \"Cy\")].age") => 41);
        check!("pick"(people.clone(), "$.p[?(@.tags.vip == true)].name") => "Al");
        check!("pick"(people.clone(), "$.p[?(@.tags)].name") => json!(["Al", "Cy"]));
        check!("pick"(people.clone(), "$.p[?(@['name'] >= 'B')].name") => json!(["Bo", "Cy"]));
        check!("pick"(people.clone(), "$.p[?(@.zz != 1)].name") => json!(["Al", "Bo", "Cy"]));
        check!("pick"(people, "$.p[?(@.zz < 1)].name") => ());
    }

    #[test]
    fn invalid_paths_are_errors() {
        for bad in [
            "$.",
            "$[",
            "$['a]",
            "$[?(@.a ~ 1)]",
            "$[(@.foo)]",
            "$[?(x)]",
            "$[1:2:0]",
        ] {
            let e = run("pick", vec![v(serde_json::json!({})), v(bad)]).unwrap_err();
            assert!(
                e.message.starts_with("pick: invalid JSONPath"),
                "{bad}: {}",
                e.message
            );
        }
    }
}
