//! Paths into maps and arrays (`x{path}`, `ent:x{path} := v`,
//! docs/spec/krl-language.md 4.3 and 7.2): used by the evaluator and by
//! the host's default `ent:` path methods.

use super::{Map, Value};
use std::sync::Arc;

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
            let mut m = Map::default();
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
            let mut m = Map::default();
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
