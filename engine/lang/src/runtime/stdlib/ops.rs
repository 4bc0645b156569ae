//! The operators (docs/spec/krl-stdlib.md 1, docs/spec/krl-language.md 4.4) as functions for the
//! evaluator. `&&`, `||`, `not` and unary `+` (which returns its operand
//! unchanged) are the evaluator's own.
//!
//! All return `Result` for a uniform call site, though only `- * / %`,
//! unary `-` and `like` can fail. Arithmetic converts with `N(x)` and
//! raises the reference's TypeErrors;
//! comparison is numeric when both sides convert, else by the string
//! conversions in UTF-16 code unit order.

use super::{cmp_utf16, finite, num, to_regex};
use crate::runtime::error::RuntimeError;
use crate::runtime::pattern::{Budget, DEFAULT_STEPS};
use crate::runtime::value::{equals, Value};
use std::cmp::Ordering;

fn s(v: &Value) -> String {
    v.to_krl_string()
}

fn both(a: &Value, b: &Value) -> Option<(f64, f64)> {
    Some((num(a)?, num(b)?))
}

/// `a + b`: the sum of two numbers, else `S(a) + S(b)`.
pub fn add(a: &Value, b: &Value) -> Result<Value, RuntimeError> {
    Ok(match (finite(a), finite(b)) {
        (Some(x), Some(y)) => Value::number(x + y),
        _ => {
            let (mut out, b) = (s(a), s(b));
            if out.len() + b.len() > super::MAX_STRING_BYTES {
                return Err(super::string_too_long(out.len() + b.len()));
            }
            out.push_str(&b);
            Value::from(out)
        }
    })
}

/// `a - b`: `N(a) - N(b)`.
pub fn sub(a: &Value, b: &Value) -> Result<Value, RuntimeError> {
    let (x, y) = both(a, b).ok_or_else(|| {
        RuntimeError::type_error(format!("{} cannot be subtracted from {}", s(b), s(a)))
    })?;
    Ok(Value::number(x - y))
}

/// Unary `-a`: `-N(a)`.
pub fn neg(a: &Value) -> Result<Value, RuntimeError> {
    let x = num(a).ok_or_else(|| RuntimeError::type_error(format!("Cannot negate {}", s(a))))?;
    Ok(Value::number(-x))
}

/// `a * b`: `N(a) * N(b)`.
pub fn mul(a: &Value, b: &Value) -> Result<Value, RuntimeError> {
    let (x, y) = both(a, b).ok_or_else(|| {
        RuntimeError::type_error(format!("{} cannot be multiplied by {}", s(a), s(b)))
    })?;
    Ok(Value::number(x * y))
}

/// `a / b`: `N(a) / N(b)`, and 0 when `N(b)` is 0. (The reference also
/// writes a `[DIVISION BY ZERO]` debug line; the evaluator may, seeing a
/// zero divisor, since this function has no context.)
pub fn div(a: &Value, b: &Value) -> Result<Value, RuntimeError> {
    let (x, y) = both(a, b).ok_or_else(|| {
        RuntimeError::type_error(format!("{} cannot be divided by {}", s(a), s(b)))
    })?;
    if y == 0.0 {
        return Ok(Value::Number(0.0));
    }
    Ok(Value::number(x / y))
}

/// `a % b`: the JavaScript remainder (sign of `a`); 0 when `N(b)` is 0.
pub fn rem(a: &Value, b: &Value) -> Result<Value, RuntimeError> {
    let (x, y) = both(a, b).ok_or_else(|| {
        RuntimeError::type_error(format!("Cannot calculate {} modulo {}", s(a), s(b)))
    })?;
    if y == 0.0 {
        return Ok(Value::Number(0.0));
    }
    // Rust's `%` on floats is C's fmod, which is JavaScript's `%`.
    Ok(Value::number(x % y))
}

/// `a == b`: deep equality.
pub fn eq(a: &Value, b: &Value) -> Result<Value, RuntimeError> {
    Ok(Value::Bool(equals(a, b)))
}

/// `a != b`.
pub fn ne(a: &Value, b: &Value) -> Result<Value, RuntimeError> {
    Ok(Value::Bool(!equals(a, b)))
}

/// The ordering behind `<=>` and `<`...: numeric if both sides convert,
/// else `S(a)` and `S(b)` by UTF-16 code units.
pub fn compare(a: &Value, b: &Value) -> Ordering {
    match both(a, b) {
        // NaN cannot occur (`num` filters it); `Less` mirrors JavaScript's
        // fall-through for incomparable numbers anyway.
        Some((x, y)) => x.partial_cmp(&y).unwrap_or(Ordering::Less),
        None => compare_strings(a, b),
    }
}

fn compare_strings(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => cmp_utf16(x, y),
        _ => cmp_utf16(&s(a), &s(b)),
    }
}

fn ordering_value(o: Ordering) -> Value {
    Value::Number(match o {
        Ordering::Less => -1.0,
        Ordering::Equal => 0.0,
        Ordering::Greater => 1.0,
    })
}

/// `a <=> b`: -1, 0 or 1.
pub fn cmp3(a: &Value, b: &Value) -> Result<Value, RuntimeError> {
    Ok(ordering_value(compare(a, b)))
}

/// `a < b`.
pub fn lt(a: &Value, b: &Value) -> Result<Value, RuntimeError> {
    Ok(Value::Bool(compare(a, b) == Ordering::Less))
}

/// `a <= b`.
pub fn le(a: &Value, b: &Value) -> Result<Value, RuntimeError> {
    Ok(Value::Bool(compare(a, b) != Ordering::Greater))
}

/// `a > b`.
pub fn gt(a: &Value, b: &Value) -> Result<Value, RuntimeError> {
    Ok(Value::Bool(compare(a, b) == Ordering::Greater))
}

/// `a >= b`.
pub fn ge(a: &Value, b: &Value) -> Result<Value, RuntimeError> {
    Ok(Value::Bool(compare(a, b) != Ordering::Less))
}

/// `a cmp b`: `S(a)` against `S(b)`, -1, 0 or 1.
pub fn str_cmp(a: &Value, b: &Value) -> Result<Value, RuntimeError> {
    Ok(ordering_value(compare_strings(a, b)))
}

/// `a like b`: whether regex `b` (a non-regex is `S(b)` compiled) matches
/// `S(a)`. An invalid pattern is an error.
pub fn like(a: &Value, b: &Value) -> Result<Value, RuntimeError> {
    like_within(a, b, &mut Budget::new(DEFAULT_STEPS))
}

/// `a like b` with a step budget for a backtracking search.
pub fn like_within(a: &Value, b: &Value, budget: &mut Budget) -> Result<Value, RuntimeError> {
    let re = to_regex(b)?;
    let matched = match a {
        Value::Str(text) => re.is_match(text, budget)?,
        _ => re.is_match(&s(a), budget)?,
    };
    Ok(Value::Bool(matched))
}

/// `a >< b`: an array has an element equal to `b`; a map has the key
/// `S(b)`; false for anything else.
pub fn contains_op(a: &Value, b: &Value) -> Result<Value, RuntimeError> {
    Ok(Value::Bool(match a {
        Value::Array(items) => items.iter().any(|x| equals(x, b)),
        Value::Map(m) => match b {
            Value::Str(k) => m.contains_key(&**k),
            _ => m.contains_key(s(b).as_str()),
        },
        _ => false,
    }))
}

/// Classic `a eq b`: the string conversions are equal.
pub fn str_eq(a: &Value, b: &Value) -> Result<Value, RuntimeError> {
    Ok(Value::Bool(compare_strings(a, b) == Ordering::Equal))
}

/// Classic `a neq b`.
pub fn str_ne(a: &Value, b: &Value) -> Result<Value, RuntimeError> {
    Ok(Value::Bool(compare_strings(a, b) != Ordering::Equal))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::stdlib::testing::{re, same, v};
    use serde_json::json;

    fn ok(got: Result<Value, RuntimeError>, want: impl crate::runtime::stdlib::testing::ToVal) {
        let got = got.unwrap();
        let want = v(want);
        assert!(same(&got, &want), "got {got:?}, expected {want:?}");
    }

    fn err(got: Result<Value, RuntimeError>, message: &str) {
        match got {
            Ok(v) => panic!("got {v:?}, expected error {message}"),
            Err(e) => assert_eq!(e.message, message),
        }
    }

    #[test]
    fn plus() {
        ok(add(&v(1), &v(2)), 3);
        ok(add(&v("a"), &v(1)), "a1");
        ok(add(&v(1), &v(())), "1null");
        ok(add(&v(json!({})), &v(json!([]))), "[Map][Array]");
        ok(add(&v(json!([1])), &v(json!([2]))), "[Array][Array]");
        ok(add(&v(0.1), &v(0.2)), 0.30000000000000004);
        ok(add(&v("1"), &v(2)), "12");
        ok(add(&v(true), &v(1)), "true1");
        ok(add(&v(f64::INFINITY), &v(1)), "Infinity1");
    }

    #[test]
    fn minus() {
        ok(sub(&v("1"), &v("  3")), -2);
        ok(sub(&v(json!(["a", "b", "c"])), &v(2)), 1);
        ok(sub(&v(5), &v(true)), 4);
        err(
            sub(&v("a"), &v(1)),
            "TypeError: 1 cannot be subtracted from a",
        );
        ok(neg(&v(())), 0);
        ok(neg(&v(json!([0]))), -1);
        ok(neg(&v("3")), -3);
        err(neg(&v("x")), "TypeError: Cannot negate x");
        err(neg(&re("a", "")), "TypeError: Cannot negate re#a#");
    }

    #[test]
    fn times_divide_modulo() {
        ok(mul(&v("5"), &v("2")), 10);
        err(
            mul(&v("a"), &v(2)),
            "TypeError: a cannot be multiplied by 2",
        );
        ok(div(&v(9), &v(0)), 0);
        ok(div(&v(9), &v("")), 0);
        ok(div(&v("2"), &v(1)), 2);
        ok(div(&v(1), &v(4)), 0.25);
        err(div(&v(1), &v("x")), "TypeError: 1 cannot be divided by x");
        ok(rem(&v(-7), &v(3)), -1);
        ok(rem(&v(7), &v(-3)), 1);
        ok(rem(&v(json!([1, 2, 3, 4, 5])), &v(json!([1, 2]))), 1);
        ok(rem(&v(7), &v(0)), 0);
        ok(rem(&v(5.5), &v(2)), 1.5);
        err(
            rem(&v("a"), &v(2)),
            "TypeError: Cannot calculate a modulo 2",
        );
    }

    #[test]
    fn equality() {
        ok(eq(&v(1), &v(1.0)), true);
        ok(eq(&v("1"), &v(1)), false);
        ok(eq(&v(json!({"a": ["b"]})), &v(json!({"a": ["b"]}))), true);
        ok(eq(&v(()), &v(())), true);
        ok(eq(&v(()), &v(0)), false);
        ok(ne(&v(()), &v(false)), true);
        ok(ne(&v(json!([1, [2]])), &v(json!([1, [2]]))), false);
    }

    #[test]
    fn three_way_compare() {
        ok(cmp3(&v("5"), &v("10")), -1);
        ok(cmp3(&v("10"), &v(5)), 1);
        ok(cmp3(&v(()), &v(false)), 0);
        ok(cmp3(&v(json!([0, 1])), &v(json!([1, 1]))), 0);
        ok(cmp3(&v(1), &v("a")), -1);
        ok(cmp3(&v("b"), &v("a")), 1);
        ok(cmp3(&v(2), &v(2)), 0);
        ok(lt(&v("3"), &v("20")), true);
        ok(gt(&v("2018-03-07"), &v("2018-03-05")), true);
        ok(gt(&v("02"), &v("1")), true);
        ok(lt(&v("10"), &v("9")), false);
        ok(lt(&v("10"), &v("9a")), true);
        ok(lt(&v(()), &v(1)), true);
        ok(gt(&v(json!([1, 2, 3])), &v(2)), true);
        ok(le(&v(2), &v(2)), true);
        ok(ge(&v(2), &v(3)), false);
        ok(ge(&v("b"), &v("a")), true);
        ok(le(&v("b"), &v("a")), false);
    }

    #[test]
    fn string_compare() {
        ok(str_cmp(&v(20), &v(3)), -1);
        ok(str_cmp(&v(5), &v("5")), 0);
        ok(str_cmp(&v(()), &v(0)), 1);
        ok(str_eq(&v(5), &v("5")), true);
        ok(str_eq(&v(()), &v("null")), true);
        ok(str_ne(&v("a"), &v("b")), true);
        ok(str_ne(&v(1), &v(1.0)), false);
    }

    #[test]
    fn like_operator() {
        ok(like(&v("wat"), &v("a.*?(a|t)")), true);
        ok(like(&v("atruething"), &v(true)), true);
        ok(like(&v("bcd"), &re("^B", "i")), true);
        ok(like(&v("bcd"), &re("^B", "")), false);
        ok(like(&v(()), &v("ul")), true);
        assert!(like(&v("a"), &v("(")).is_err());
    }

    #[test]
    fn membership() {
        ok(contains_op(&v(json!([5, 6, 7])), &v(6)), true);
        ok(contains_op(&v(json!([5, 6, 7])), &v("6")), false);
        ok(
            contains_op(&v(json!([[1], {"a": 1}])), &v(json!({"a": 1}))),
            true,
        );
        ok(contains_op(&v(json!({"pi": 3})), &v("pi")), true);
        ok(contains_op(&v(json!({"1": 3})), &v(1)), true);
        ok(contains_op(&v(json!({"pi": 3})), &v(3)), false);
        ok(contains_op(&v("abc"), &v("b")), false);
        ok(contains_op(&v(()), &v(())), false);
    }
}
