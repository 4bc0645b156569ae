//! Operators over values and paths into maps and arrays (`x{path}`,
//! `ent:x{path} := v`).

use super::R;
use crate::runtime::stdlib::ops;
use crate::runtime::{Map, Value};
use crate::syntax::ast::BinOp;
use std::sync::Arc;

/// `a OP b` for the operators that are library functions.
pub fn binary(op: BinOp, a: &Value, b: &Value) -> R<Value> {
    Ok(match op {
        BinOp::Add => ops::add(a, b)?,
        BinOp::Sub => ops::sub(a, b)?,
        BinOp::Mul => ops::mul(a, b)?,
        BinOp::Div => ops::div(a, b)?,
        BinOp::Mod => ops::rem(a, b)?,
        BinOp::Eq => Value::Bool(a == b),
        BinOp::Ne => Value::Bool(a != b),
        BinOp::Lt => ops::lt(a, b)?,
        BinOp::Le => ops::le(a, b)?,
        BinOp::Gt => ops::gt(a, b)?,
        BinOp::Ge => ops::ge(a, b)?,
        BinOp::Cmp3 => ops::cmp3(a, b)?,
        BinOp::Cmp => ops::str_cmp(a, b)?,
        BinOp::Like => ops::like(a, b)?,
        BinOp::In => ops::contains_op(a, b)?,
        BinOp::StrEq => ops::str_eq(a, b)?,
        BinOp::StrNe => ops::str_ne(a, b)?,
        BinOp::And | BinOp::Or => unreachable!("short-circuit operators are compiled apart"),
    })
}

/// `x{path}`: a key or an array of keys (docs/spec/krl-language.md 4.3).
pub fn path_get(v: &Value, path: &Value) -> Value {
    match path {
        Value::Array(keys) => {
            let mut cur = v.clone();
            for k in keys.iter() {
                cur = key_get(&cur, &k.to_krl_string());
                if cur.is_null() {
                    break;
                }
            }
            cur
        }
        k => key_get(v, &k.to_krl_string()),
    }
}

/// One key of a map or index of an array; null when missing.
pub fn key_get(v: &Value, key: &str) -> Value {
    match v {
        Value::Map(m) => m.get(key).cloned().unwrap_or(Value::Null),
        Value::Array(a) => key
            .parse::<usize>()
            .ok()
            .and_then(|i| a.get(i).cloned())
            .unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

fn path_keys(path: &Value) -> Vec<String> {
    match path {
        Value::Array(keys) => keys.iter().map(Value::to_krl_string).collect(),
        k => vec![k.to_krl_string()],
    }
}

/// Sets `value` at `path` in `v`, creating maps as needed (docs/spec/krl-language.md 7.2).
pub fn path_set(v: &Value, path: &Value, value: Value) -> Value {
    set_in(v, &path_keys(path), value)
}

fn set_in(v: &Value, keys: &[String], value: Value) -> Value {
    let Some((first, rest)) = keys.split_first() else {
        return value;
    };
    match v {
        Value::Array(a) => {
            if let Ok(i) = first.parse::<usize>() {
                let mut a = (**a).clone();
                if i < a.len() {
                    a[i] = set_in(&a[i], rest, value);
                    return Value::from(a);
                }
            }
            let mut m = Map::new();
            for (i, x) in a.iter().enumerate() {
                m.insert(Arc::from(i.to_string().as_str()), x.clone());
            }
            let child = set_in(m.get(first.as_str()).unwrap_or(&Value::Null), rest, value);
            m.insert(Arc::from(first.as_str()), child);
            Value::from(m)
        }
        Value::Map(m) => {
            let mut m = (**m).clone();
            let child = set_in(m.get(first.as_str()).unwrap_or(&Value::Null), rest, value);
            m.insert(Arc::from(first.as_str()), child);
            Value::from(m)
        }
        _ => {
            let mut m = Map::new();
            m.insert(Arc::from(first.as_str()), set_in(&Value::Null, rest, value));
            Value::from(m)
        }
    }
}

/// Removes the entry at `path` (docs/spec/krl-language.md 7.2 `clear ent:x{path}`).
pub fn path_delete(v: &Value, path: &Value) -> Value {
    fn del(v: &Value, keys: &[String]) -> Value {
        let Some((first, rest)) = keys.split_first() else {
            return v.clone();
        };
        match v {
            Value::Map(m) => {
                let mut m = (**m).clone();
                if rest.is_empty() {
                    m.shift_remove(first.as_str());
                } else if let Some(child) = m.get(first.as_str()).cloned() {
                    m.insert(Arc::from(first.as_str()), del(&child, rest));
                }
                Value::from(m)
            }
            Value::Array(a) => {
                let mut a = (**a).clone();
                if let Ok(i) = first.parse::<usize>() {
                    if i < a.len() {
                        if rest.is_empty() {
                            a.remove(i);
                        } else {
                            a[i] = del(&a[i], rest);
                        }
                    }
                }
                Value::from(a)
            }
            other => other.clone(),
        }
    }
    del(v, &path_keys(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_set_and_delete() {
        let v = Value::Null;
        let p = Value::from(vec![Value::from("ui"), Value::from("theme")]);
        let set = path_set(&v, &p, Value::from("dark"));
        assert_eq!(set.to_json(), serde_json::json!({"ui": {"theme": "dark"}}));
        let list = Value::from_json(&serde_json::json!([{"id": "one"}, {"id": "two"}]));
        let p = Value::from_json(&serde_json::json!([1, "other"]));
        assert_eq!(
            path_set(&list, &p, Value::from("thing")).to_json(),
            serde_json::json!([{"id": "one"}, {"id": "two", "other": "thing"}])
        );
        let m = Value::from_json(&serde_json::json!({"a": 1, "b": {"c": 2, "d": 3}}));
        let p = Value::from_json(&serde_json::json!(["b", "c"]));
        assert_eq!(
            path_delete(&m, &p).to_json(),
            serde_json::json!({"a": 1, "b": {"d": 3}})
        );
    }
}
