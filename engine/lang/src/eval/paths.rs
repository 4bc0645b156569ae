//! Operators over values, and paths into maps and arrays (`x{path}`,
//! `ent:x{path} := v`: the path functions live in `runtime::paths`, below
//! the host, which uses them too).

use super::R;
pub use crate::runtime::paths::{key_get, path_delete, path_get, path_set};
use crate::runtime::stdlib::ops;
use crate::runtime::Value;
use crate::syntax::ast::BinOp;

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
