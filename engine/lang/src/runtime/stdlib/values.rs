//! Values, types and debugging (docs/spec/krl-stdlib.md 2) and numbers (3).

use super::{arg, array, finite, is_null, num, str_value};
use crate::runtime::error::RuntimeError;
use crate::runtime::value::{number_to_string, Context, Regex, Value};
use std::fmt::Write as _;
use std::sync::Arc;

type R = Result<Value, RuntimeError>;

/// The largest list `range` builds (a guard against `0.range(1e12)`).
const MAX_RANGE: f64 = 1_000_000.0;

// ---------------------------------------------------------------------------
// as, isnull, typeof, klog, defaultsTo

pub fn as_(_cx: &mut dyn Context, args: &[Value]) -> R {
    let x = arg(args, 0);
    if args.len() < 2 {
        return Ok(x.clone());
    }
    let ty = arg(args, 1);
    let name = match ty {
        Value::Str(s) => &**s,
        _ => "",
    };
    // Classic names (docs/spec/krl-language.md 10.8).
    let name = match name {
        "str" => "String",
        "num" => "Number",
        "bool" => "Boolean",
        "regexp" => return classic_regexp(x),
        "json" => {
            return Ok(match x {
                Value::Str(_) => decode_value(x),
                _ => str_value(encode_json(x, 0)),
            })
        }
        other => other,
    };
    if typeof_name(x) == name {
        return Ok(x.clone());
    }
    match name {
        "String" => Ok(str_value(x.to_krl_string())),
        "Number" => Ok(num(x).map_or(Value::Null, Value::Number)),
        "Boolean" => Ok(Value::Bool(match x {
            Value::Str(s) if &**s == "false" => false,
            Value::Number(n) => *n != 0.0 && !n.is_nan(),
            other => other.truthy(),
        })),
        "RegExp" => {
            let mut source = x.to_krl_string();
            // `[Array]`, `[Map]`... would be character classes.
            if !matches!(x, Value::Str(_)) && is_bracketed_word(&source) {
                source = format!("\\[{}\\]", &source[1..source.len() - 1]);
            }
            Ok(Value::Regex(Arc::new(Regex::new(&source, "")?)))
        }
        "Hex" => Ok(to_hex(x)),
        _ => Err(RuntimeError::type_error(format!(
            "Cannot use the .as(\"{}\") operator with {} (type {})",
            ty.to_krl_string(),
            x.to_krl_string(),
            typeof_name(x)
        ))),
    }
}

fn is_bracketed_word(s: &str) -> bool {
    s.len() > 2
        && s.starts_with('[')
        && s.ends_with(']')
        && s[1..s.len() - 1].bytes().all(|b| b.is_ascii_alphabetic())
}

/// Classic `as("regexp")`: `/source/flags` has its slashes and flags
/// honoured; anything else is as `"RegExp"`.
fn classic_regexp(x: &Value) -> R {
    if let Value::Regex(_) = x {
        return Ok(x.clone());
    }
    if let Value::Str(s) = x {
        if let Some(body) = s.strip_prefix('/') {
            if let Some(end) = body.rfind('/') {
                let flags = &body[end + 1..];
                if flags.chars().all(|c| "gim".contains(c)) {
                    return Ok(Value::Regex(Arc::new(Regex::new(&body[..end], flags)?)));
                }
            }
        }
    }
    as_(&mut NoCx, &[x.clone(), Value::from("RegExp")])
}

/// `as` never calls back; this lets `classic_regexp` reuse it.
struct NoCx;

impl Context for NoCx {
    fn call(&mut self, _f: &Value, _args: Vec<Value>) -> R {
        Err(RuntimeError::new("no callbacks here"))
    }
    fn log(&mut self, _message: &str) {}
}

/// The `"Hex"` quirk: a number in base 16 (`255` → `"ff"`); a string or
/// boolean as its text; null for anything else.
fn to_hex(x: &Value) -> Value {
    match x {
        Value::Number(n) if n.is_finite() => str_value(hex_number(*n)),
        Value::Number(n) if n.is_infinite() => str_value(number_to_string(*n)),
        Value::Str(_) => x.clone(),
        Value::Bool(b) => str_value(b.to_string()),
        _ => Value::Null,
    }
}

fn hex_number(n: f64) -> String {
    let mut out = String::new();
    if n < 0.0 {
        out.push('-');
    }
    let a = n.abs();
    let int = a.trunc();
    if int < 18_446_744_073_709_551_616.0 {
        let _ = write!(out, "{:x}", int as u64);
    } else {
        // Beyond u64: the digits by repeated division.
        let mut digits = Vec::new();
        let mut i = int;
        while i >= 1.0 {
            let d = (i % 16.0) as u32;
            digits.push(std::char::from_digit(d, 16).unwrap_or('0'));
            i = (i / 16.0).trunc();
        }
        out.extend(digits.iter().rev());
    }
    let mut frac = a - int;
    if frac > 0.0 {
        out.push('.');
        for _ in 0..20 {
            if frac <= 0.0 {
                break;
            }
            frac *= 16.0;
            let d = frac.trunc();
            out.push(std::char::from_digit(d as u32, 16).unwrap_or('0'));
            frac -= d;
        }
    }
    out
}

/// `typeof` of a value (docs/spec/krl-language.md 2.1; the "Hex" quirk is not reproduced).
fn typeof_name(x: &Value) -> &'static str {
    if is_null(x) {
        "Null"
    } else {
        x.type_name()
    }
}

pub fn isnull(_cx: &mut dyn Context, args: &[Value]) -> R {
    Ok(Value::Bool(is_null(arg(args, 0))))
}

pub fn typeof_(_cx: &mut dyn Context, args: &[Value]) -> R {
    Ok(Value::from(typeof_name(arg(args, 0))))
}

pub fn klog(cx: &mut dyn Context, args: &[Value]) -> R {
    let x = arg(args, 0);
    let message = match arg(args, 1) {
        m if is_null(m) => "klog".to_string(),
        m => m.to_krl_string(),
    };
    cx.log(&format!("{message} {}", encode_json(x, 0)));
    Ok(x.clone())
}

pub fn defaults_to(cx: &mut dyn Context, args: &[Value]) -> R {
    let x = arg(args, 0);
    if !is_null(x) {
        return Ok(x.clone());
    }
    let message = arg(args, 2);
    if !is_null(message) {
        cx.log(&format!("[DEFAULTSTO] {}", message.to_krl_string()));
    }
    Ok(arg(args, 1).clone())
}

pub fn noop(_cx: &mut dyn Context, _args: &[Value]) -> R {
    Ok(Value::Null)
}

// ---------------------------------------------------------------------------
// sprintf

pub fn sprintf(_cx: &mut dyn Context, args: &[Value]) -> R {
    let template = arg(args, 1);
    if is_null(template) {
        return Ok(Value::from(""));
    }
    let template = template.to_krl_string();
    let val = arg(args, 0);
    let out = if let Some(n) = finite(val) {
        fill_template(&template, "%d", &number_to_string(n))
    } else if let Value::Str(s) = val {
        fill_template(&template, "%s", s)
    } else {
        template
    };
    Ok(str_value(out))
}

/// The reference's placeholder rules: split on `\\`; in each piece replace
/// every placeholder not preceded by a backslash (scanning left to right,
/// a replaced placeholder also consumes the character before it, so of
/// `%d%d` only the first is replaced); join with `\`; then `\%d` → `%d`.
fn fill_template(template: &str, spec: &str, val: &str) -> String {
    let pieces: Vec<String> = template
        .split("\\\\")
        .map(|piece| {
            let mut out = String::with_capacity(piece.len() + val.len());
            if let Some(rest) = piece.strip_prefix(spec) {
                out.push_str(val);
                fill_piece(rest, spec, val, &mut out);
            } else {
                fill_piece(piece, spec, val, &mut out);
            }
            out
        })
        .collect();
    pieces.join("\\").replace(&format!("\\{spec}"), spec)
}

/// Replaces `c<spec>` by `c<val>` for each character `c` other than `\`,
/// non-overlapping, left to right.
fn fill_piece(mut rest: &str, spec: &str, val: &str, out: &mut String) {
    while let Some(c) = rest.chars().next() {
        let after = &rest[c.len_utf8()..];
        out.push(c);
        if c != '\\' {
            if let Some(tail) = after.strip_prefix(spec) {
                out.push_str(val);
                rest = tail;
                continue;
            }
        }
        rest = after;
    }
}

// ---------------------------------------------------------------------------
// encode, decode

pub fn encode(_cx: &mut dyn Context, args: &[Value]) -> R {
    let indent = parse_int_prefix(arg(args, 1)).unwrap_or(0).clamp(0, 10) as usize;
    Ok(str_value(encode_json(arg(args, 0), indent)))
}

/// lodash `parseInt(x, 10)` of the indent: the leading integer of its text.
fn parse_int_prefix(v: &Value) -> Option<i64> {
    let text = match v {
        Value::Number(_) | Value::Str(_) | Value::Bool(_) => v.to_krl_string(),
        _ => return None,
    };
    let t = text.trim_start();
    let (sign, digits) = match t.as_bytes().first() {
        Some(b'-') => (-1, &t[1..]),
        Some(b'+') => (1, &t[1..]),
        _ => (1, t),
    };
    let end = digits
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    if end == 0 {
        return None;
    }
    let n: i64 = digits[..end.min(18)].parse().ok()?;
    Some(sign * n)
}

/// `val.encode(indent)`: JSON text like `JSON.stringify`, with regexes,
/// functions and actions written as their string conversions and numbers
/// in JavaScript format. `indent` spaces (0 to 10) pretty-print.
pub fn encode_json(v: &Value, indent: usize) -> String {
    let mut out = String::new();
    write_json(&mut out, v, indent, 0);
    out
}

fn write_json(out: &mut String, v: &Value, indent: usize, depth: usize) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) if n.is_finite() => out.push_str(&number_to_string(*n)),
        Value::Number(_) => out.push_str("null"),
        Value::Str(s) => write_json_string(out, s),
        Value::Regex(_) | Value::Function(_) | Value::Action(_) => {
            write_json_string(out, &v.to_krl_string())
        }
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, depth + 1);
                write_json(out, item, indent, depth + 1);
            }
            newline(out, indent, depth);
            out.push(']');
        }
        Value::Map(m) => {
            if m.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            for (i, (k, item)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, depth + 1);
                write_json_string(out, k);
                out.push(':');
                if indent > 0 {
                    out.push(' ');
                }
                write_json(out, item, indent, depth + 1);
            }
            newline(out, indent, depth);
            out.push('}');
        }
    }
}

fn newline(out: &mut String, indent: usize, depth: usize) {
    if indent > 0 {
        out.push('\n');
        out.push_str(&" ".repeat(indent * depth));
    }
}

fn write_json_string(out: &mut String, s: &str) {
    // serde_json escapes exactly as JSON.stringify does for valid UTF-8.
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

pub fn decode(_cx: &mut dyn Context, args: &[Value]) -> R {
    Ok(decode_value(arg(args, 0)))
}

/// A string holding valid JSON decoded; anything else unchanged.
fn decode_value(v: &Value) -> Value {
    match v {
        Value::Str(s) => match serde_json::from_str::<serde_json::Value>(s) {
            Ok(j) => Value::from_json(&j),
            Err(_) => v.clone(),
        },
        _ => v.clone(),
    }
}

// ---------------------------------------------------------------------------
// Numbers: chr, range, bit operations

pub fn chr(_cx: &mut dyn Context, args: &[Value]) -> R {
    let Some(code) = num(arg(args, 0)) else {
        return Ok(Value::Null);
    };
    let code = if code.is_finite() { code.trunc() } else { 0.0 };
    let c = if (0.0..=1_114_111.0).contains(&code) {
        char::from_u32(code as u32)
    } else {
        // JavaScript's String.fromCharCode wraps to 16 bits.
        char::from_u32(code.rem_euclid(65536.0) as u32)
    };
    Ok(str_value(c.unwrap_or('\u{fffd}').to_string()))
}

pub fn range(_cx: &mut dyn Context, args: &[Value]) -> R {
    if args.len() < 2 {
        return Ok(array(vec![]));
    }
    let (Some(start), Some(end)) = (num(arg(args, 0)), num(arg(args, 1))) else {
        return Ok(array(vec![]));
    };
    // lodash `_.range(start, end ± 1)`: ceil((stop - start) / step) steps.
    let (stop, step) = if start < end {
        (end + 1.0, 1.0)
    } else {
        (end - 1.0, -1.0)
    };
    let count = ((stop - start) / step).ceil().max(0.0);
    if count.is_nan() || count > MAX_RANGE {
        return Err(RuntimeError::new(format!(
            "range: a range of {} numbers is too long (at most {MAX_RANGE})",
            number_to_string(count)
        )));
    }
    let mut out = Vec::with_capacity(count as usize);
    let mut x = start;
    for _ in 0..count as usize {
        out.push(Value::Number(x));
        x += step;
    }
    Ok(array(out))
}

/// JavaScript's ToInt32.
fn to_int32(n: f64) -> i32 {
    if !n.is_finite() {
        return 0;
    }
    n.trunc().rem_euclid(4_294_967_296.0) as u32 as i32
}

fn bit_operands(args: &[Value], what: &str) -> Result<(i32, i32), RuntimeError> {
    let (a, b) = (arg(args, 0), arg(args, 1));
    match (num(a), num(b)) {
        (Some(x), Some(y)) => Ok((to_int32(x), to_int32(y))),
        _ => Err(RuntimeError::type_error(format!(
            "{} {what} {}",
            a.to_krl_string(),
            b.to_krl_string()
        ))),
    }
}

pub fn shift_left(_cx: &mut dyn Context, args: &[Value]) -> R {
    let (a, n) = bit_operands(args, "cannot be shifted by")?;
    Ok(Value::Number(a.wrapping_shl(n as u32 & 31) as f64))
}

pub fn shift_right(_cx: &mut dyn Context, args: &[Value]) -> R {
    let (a, n) = bit_operands(args, "cannot be shifted by")?;
    Ok(Value::Number(a.wrapping_shr(n as u32 & 31) as f64))
}

pub fn band(_cx: &mut dyn Context, args: &[Value]) -> R {
    let (a, b) = bit_operands(args, "cannot be bitwise anded")?;
    Ok(Value::Number((a & b) as f64))
}

pub fn bor(_cx: &mut dyn Context, args: &[Value]) -> R {
    let (a, b) = bit_operands(args, "cannot be bitwise ored")?;
    Ok(Value::Number((a | b) as f64))
}

pub fn bxor(_cx: &mut dyn Context, args: &[Value]) -> R {
    let (a, b) = bit_operands(args, "cannot be bitwise xored")?;
    Ok(Value::Number((a ^ b) as f64))
}

pub fn bnot(_cx: &mut dyn Context, args: &[Value]) -> R {
    let a = arg(args, 0);
    let n = num(a).ok_or_else(|| {
        RuntimeError::type_error(format!("{} cannot be inverted", a.to_krl_string()))
    })?;
    Ok(Value::Number(!to_int32(n) as f64))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{re, run_cx, TestCx};
    use super::*;
    use serde_json::json;

    #[test]
    fn as_examples() {
        check!("as"("100.25", "Number") => 100.25);
        check!("as"(1.05, "String") => "1.05");
        check!("as"(re("blah", "i"), "String") => "re#blah#i");
        check!("as"(" 12 ", "Number") => 12);
        check!("as"("0xAF", "Number") => 175);
        check!("as"(json!({}), "Number") => 0);
        check!("as"(json!([1, 2]), "Number") => 2);
        check!("as"("true", "Boolean") => true);
        check!("as"("foo", "Number") => ());
        check!("as"("1,000", "Number") => ());
        check!("as"("12abc", "Number") => ());
        check!("as"(true, "Number") => 1);
        check!("as"((), "Number") => 0);
    }

    #[test]
    fn as_boolean_string_and_same_type() {
        check!("as"("false", "Boolean") => false);
        check!("as"(0, "Boolean") => false);
        check!("as"(2, "Boolean") => true);
        check!("as"("yes", "Boolean") => true);
        check!("as"(json!([]), "Boolean") => true);
        check!("as"("", "Boolean") => false);
        check!("as"((), "Boolean") => false);
        check!("as"(false, "Boolean") => false);
        check!("as"((), "String") => "null");
        check!("as"(json!([1]), "String") => "[Array]");
        check!("as"(json!({"a": 1}), "Map") => json!({"a": 1}));
        check!("as"("hi", "String") => "hi");
        check!("as"(json!([1])) => json!([1]));
        check!("as"(5) => 5);
    }

    #[test]
    fn as_regexp() {
        check!("as"("a.c", "RegExp") => re("a.c", ""));
        check!("as"((), "RegExp") => re("null", ""));
        check!("as"(json!([1]), "RegExp") => re("\\[Array\\]", ""));
        check!("as"(json!({}), "RegExp") => re("\\[Map\\]", ""));
        check!("as"(re("x", "g"), "RegExp") => re("x", "g"));
        check!("as"("[ab]", "RegExp") => re("[ab]", ""));
        assert!(run("as", vec![v("("), v("RegExp")]).is_err());
    }

    #[test]
    fn as_errors() {
        check_err!("as"(1, "Foo") =>
            "TypeError: Cannot use the .as(\"Foo\") operator with 1 (type Number)");
        check_err!("as"("x", ()) =>
            "TypeError: Cannot use the .as(\"null\") operator with x (type String)");
        check_err!("as"(json!([]), "map") =>
            "TypeError: Cannot use the .as(\"map\") operator with [Array] (type Array)");
    }

    #[test]
    fn as_classic_names_and_hex() {
        check!("as"(5, "str") => "5");
        check!("as"("5", "num") => 5);
        check!("as"("x", "num") => ());
        check!("as"("false", "bool") => false);
        check!("as"("/ab+c/gi", "regexp") => re("ab+c", "gi"));
        check!("as"("/a/b/", "regexp") => re("a/b", ""));
        check!("as"("ab", "regexp") => re("ab", ""));
        check!("as"("[1, {\"a\": 2}]", "json") => json!([1, {"a": 2}]));
        check!("as"("nope", "json") => "nope");
        check!("as"(json!({"a": [1, 2]}), "json") => "{\"a\":[1,2]}");
        check!("as"(255, "Hex") => "ff");
        check!("as"(-16, "Hex") => "-10");
        check!("as"(0.5, "Hex") => "0.8");
        check!("as"("0x1F", "Hex") => "0x1F");
        check!("as"(json!([]), "Hex") => ());
    }

    #[test]
    fn isnull_and_typeof() {
        check!("isnull"(()) => true);
        check!("isnull"() => true);
        for x in [v(false), v(0), v(""), v(json!({})), v(json!([]))] {
            check!("isnull"(x) => false);
        }
        check!("isnull"(Value::Number(f64::NAN)) => true);
        check!("typeof"(1) => "Number");
        check!("typeof"("hi") => "String");
        check!("typeof"(json!([1])) => "Array");
        check!("typeof"(json!({})) => "Map");
        check!("typeof"(re("x", "")) => "RegExp");
        check!("typeof"(()) => "Null");
        check!("typeof"() => "Null");
        check!("typeof"(true) => "Boolean");
        check!("typeof"(super::super::testing::func(|_| Value::Null)) => "Function");
    }

    #[test]
    fn klog_logs_and_returns_its_receiver() {
        let mut cx = TestCx::default();
        let x = v(json!({"a": [1, "b"]}));
        let got = run_cx(&mut cx, "klog", vec![x.clone(), v("x is:")]).unwrap();
        assert!(same(&got, &x));
        let got = run_cx(&mut cx, "klog", vec![v(3)]).unwrap();
        assert!(same(&got, &v(3)));
        run_cx(&mut cx, "klog", vec![v(()), v(())]).unwrap();
        assert_eq!(cx.logs, ["x is: {\"a\":[1,\"b\"]}", "klog 3", "klog null"]);
    }

    #[test]
    fn defaults_to() {
        check!("defaultsTo"((), 0) => 0);
        check!("defaultsTo"(5, 0) => 5);
        check!("defaultsTo"(false, 0) => false);
        check!("defaultsTo"("", "x") => "");
        check!("defaultsTo"(()) => ());
        check!("defaultsTo"() => ());
        let mut cx = TestCx::default();
        let got = run_cx(
            &mut cx,
            "defaultsTo",
            vec![v(()), v("anonymous"), v("no name given")],
        )
        .unwrap();
        assert!(same(&got, &v("anonymous")));
        run_cx(&mut cx, "defaultsTo", vec![v(()), v(1), v(())]).unwrap();
        run_cx(&mut cx, "defaultsTo", vec![v(2), v(1), v("unused")]).unwrap();
        assert_eq!(cx.logs, ["[DEFAULTSTO] no name given"]);
    }

    #[test]
    fn sprintf_examples() {
        check!("sprintf"(10, "< %d>") => "< 10>");
        check!("sprintf"("Jim", "Hello %s!") => "Hello Jim!");
        check!("sprintf"(0.25, "%d = %d") => "0.25 = 0.25");
        check!("sprintf"("Bob", "%d") => "%d");
        check!("sprintf"(json!({}), "Hey.") => "Hey.");
        check!("sprintf"(1) => "");
        check!("sprintf"(1, ()) => "");
        check!("sprintf"(1, 5) => "5");
    }

    #[test]
    fn sprintf_escapes_and_quirks() {
        check!("sprintf"(7, "\\%d is %d") => "%d is 7");
        check!("sprintf"(7, "\\\\%d") => "\\7");
        check!("sprintf"(7, "a\\\\b") => "a\\b");
        check!("sprintf"(7, "%d%d") => "7%d");
        check!("sprintf"(7, "%d %d%d") => "7 7%d");
        check!("sprintf"(7, "x%d%d%d") => "x7%d7");
        check!("sprintf"("é", "%s/%s") => "é/é");
        check!("sprintf"(true, "%d %s") => "%d %s");
    }

    #[test]
    fn encode_examples() {
        check!("encode"(json!({"a": [1, 2]})) => "{\"a\":[1,2]}");
        check!("encode"(json!({"a": 1, "b": 2}), 2) => "{\n  \"a\": 1,\n  \"b\": 2\n}");
        check!("encode"(()) => "null");
        check!("encode"("12") => "\"12\"");
        check!("encode"(json!({"a": [1, {"b": []}], "c": {}}), "1") =>
            "{\n \"a\": [\n  1,\n  {\n   \"b\": []\n  }\n ],\n \"c\": {}\n}");
        check!("encode"(json!([1.5, "x\n\"\u{1}é"])) => "[1.5,\"x\\n\\\"\\u0001é\"]");
        check!("encode"(json!([1e21, 1e-7, -0.0])) => "[1e+21,1e-7,0]");
        check!("encode"(json!({"z": 1, "a": 2})) => "{\"z\":1,\"a\":2}");
        check!("encode"(json!([1]), -3) => "[1]");
        check!("encode"(json!([1]), "2x") => "[\n  1\n]");
    }

    #[test]
    fn encode_non_json_values() {
        let f = super::super::testing::func(|_| Value::Null);
        let m = Value::from(
            [
                (Arc::from("r"), re("a.b", "gi")),
                (Arc::from("f"), f.clone()),
                (Arc::from("n"), Value::Number(f64::INFINITY)),
            ]
            .into_iter()
            .collect::<crate::runtime::value::Map>(),
        );
        check!("encode"(m) => "{\"r\":\"re#a.b#gi\",\"f\":\"[Function]\",\"n\":null}");
        check!("encode"(f) => "\"[Function]\"");
    }

    #[test]
    fn decode_examples() {
        check!("decode"("[3, 4, 5]") => json!([3, 4, 5]));
        check!("decode"("[1,2") => "[1,2");
        check!("decode"("a,b") => "a,b");
        check!("decode"(" {\"b\": 1, \"a\": {\"c\": null}} ") => json!({"b": 1, "a": {"c": null}}));
        check!("decode"("\"s\"") => "s");
        check!("decode"("12") => 12);
        check!("decode"(12) => 12);
        check!("decode"(json!({"a": 1})) => json!({"a": 1}));
        check!("decode"(()) => ());
        check!("decode"("") => "");
    }

    #[test]
    fn chr_examples() {
        check!("chr"(75) => "K");
        check!("chr"("no") => ());
        check!("chr"(()) => "\u{0}");
        check!("chr"(75.9) => "K");
        check!("chr"("97") => "a");
        check!("chr"(128512) => "😀");
        check!("chr"(65536 + 65) => "\u{10041}");
        check!("chr"(-65536 + 65) => "A");
    }

    #[test]
    fn range_examples() {
        check!("range"(0, 10) => json!([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
        check!("range"(1, "-3") => json!([1, 0, -1, -2, -3]));
        check!("range"((), 2) => json!([0, 1, 2]));
        check!("range"(0, json!([7, 8])) => json!([0, 1, 2]));
        check!("range"(1.5, 3) => json!([1.5, 2.5, 3.5]));
        check!("range"(4, 4) => json!([4]));
        check!("range"(4) => json!([]));
        check!("range"(4, ()) => json!([4, 3, 2, 1, 0]));
        check!("range"("x", 3) => json!([]));
        check!("range"(1, "y") => json!([]));
        assert!(run("range", vec![v(0), v(1e12)]).is_err());
        assert!(run("range", vec![v(0), v(f64::INFINITY)]).is_err());
    }

    #[test]
    fn bit_operations() {
        check!("shiftLeft"(7, 2) => 28);
        check!("shiftRight"(-16, 2) => -4);
        check!("band"(5, 3) => 1);
        check!("bor"(5, 3) => 7);
        check!("bxor"(5, 3) => 6);
        check!("bnot"(5) => -6);
        check!("bnot"(-3) => 2);
        check!("shiftLeft"(1, 33) => 2);
        check!("shiftLeft"(1, 31) => -2147483648);
        check!("band"(4294967295.0, 7) => 7);
        check!("bor"("8", true) => 9);
        check!("band"(5) => 0);
        check_err!("band"("x", 3) => "TypeError: x cannot be bitwise anded 3");
        check_err!("shiftLeft"(1, "y") => "TypeError: 1 cannot be shifted by y");
        check_err!("bnot"("z") => "TypeError: z cannot be inverted");
    }

    #[test]
    fn noop_returns_null() {
        check!("noop"() => ());
        check!("noop"(1, 2) => ());
    }

    use super::super::testing::{run, same, v};
}
