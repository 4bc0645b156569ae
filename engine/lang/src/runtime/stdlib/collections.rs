//! Collections (docs/spec/krl-stdlib.md 5): size and access, building and changing,
//! iteration, ordering and slicing, set operations.
//!
//! Set operations and `unique`/`once`/`duplicates` use deep equality,
//! bucketed by a structural hash so they stay linear on large arrays.

use super::ops::compare;
use super::{arg, array, cmp_utf16, is_function, is_null, merge_sort, num, str_value};
use crate::runtime::error::RuntimeError;
use crate::runtime::value::{equals, Context, Map, Value};
use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

type R = Result<Value, RuntimeError>;

/// The longest array `put`/`set` will grow by writing past the end (the
/// gap is filled with nulls).
const MAX_ARRAY_GROWTH: usize = 1_000_000;

fn only_collections() -> RuntimeError {
    RuntimeError::type_error("only works on collections")
}

fn only_arrays() -> RuntimeError {
    RuntimeError::type_error("only works on Arrays")
}

fn is_collection(v: &Value) -> bool {
    matches!(v, Value::Array(_) | Value::Map(_))
}

fn empty_map() -> Value {
    Value::Map(Arc::new(Map::default()))
}

/// A path argument as a list of keys: an array's elements, or the value
/// itself, each converted with `S` (`null` becomes `"null"`).
pub fn key_path(path: &Value) -> Vec<Arc<str>> {
    match path {
        Value::Array(items) => items.iter().map(key).collect(),
        other => vec![key(other)],
    }
}

fn key(v: &Value) -> Arc<str> {
    match v {
        Value::Str(s) => s.clone(),
        other => Arc::from(other.to_krl_string()),
    }
}

/// An array index written as a key: `"0"` or digits without a leading zero.
fn array_index(key: &str) -> Option<usize> {
    let b = key.as_bytes();
    if b.is_empty() || (b.len() > 1 && b[0] == b'0') || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    key.parse().ok()
}

/// The value at `keys` inside `x`; `None` when a step is missing or `keys`
/// is empty (like lodash's `get`, which the reference uses).
fn get_keys<'a>(x: &'a Value, keys: &[Arc<str>]) -> Option<&'a Value> {
    if keys.is_empty() {
        return None;
    }
    let mut cur = x;
    for k in keys {
        cur = match cur {
            Value::Map(m) => m.get(&**k)?,
            Value::Array(items) => items.get(array_index(k)?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Path read `x{path}` (docs/spec/krl-language.md 4.3): `path` is a key or an array of keys;
/// null when `x` is not a collection, a step is missing, or the path is
/// empty. Never fails.
pub fn get_path(x: &Value, path: &Value) -> Value {
    if !is_collection(x) {
        return Value::Null;
    }
    get_keys(x, &key_path(path)).cloned().unwrap_or(Value::Null)
}

// ---------------------------------------------------------------------------
// Size and access

pub fn length(_cx: &mut dyn Context, args: &[Value]) -> R {
    let n = match arg(args, 0) {
        Value::Array(items) => items.len(),
        Value::Map(m) => m.len(),
        Value::Str(s) => s.chars().count(),
        _ => 0,
    };
    Ok(Value::Number(n as f64))
}

pub fn is_empty(_cx: &mut dyn Context, args: &[Value]) -> R {
    Ok(Value::Bool(match arg(args, 0) {
        Value::Array(items) => items.is_empty(),
        Value::Map(m) => m.is_empty(),
        Value::Str(s) => s.is_empty(),
        _ => true,
    }))
}

pub fn get(_cx: &mut dyn Context, args: &[Value]) -> R {
    Ok(get_path(arg(args, 0), arg(args, 1)))
}

pub fn head(_cx: &mut dyn Context, args: &[Value]) -> R {
    Ok(match arg(args, 0) {
        Value::Array(items) => items.first().cloned().unwrap_or(Value::Null),
        other => other.clone(),
    })
}

pub fn tail(_cx: &mut dyn Context, args: &[Value]) -> R {
    Ok(match arg(args, 0) {
        Value::Array(items) if !items.is_empty() => array(items[1..].to_vec()),
        _ => array(vec![]),
    })
}

pub fn index(_cx: &mut dyn Context, args: &[Value]) -> R {
    let Value::Array(items) = arg(args, 0) else {
        return Err(only_arrays());
    };
    let target = arg(args, 1);
    let at = items.iter().position(|x| equals(x, target));
    Ok(Value::Number(at.map_or(-1.0, |i| i as f64)))
}

/// The collection `keys`/`values` look at: `x`, or the value at `path`
/// when a (truthy) path is given.
fn keys_target(args: &[Value]) -> Option<&Value> {
    let x = arg(args, 0);
    if !is_collection(x) {
        return None;
    }
    let path = arg(args, 1);
    if path.truthy() {
        get_keys(x, &key_path(path))
    } else {
        Some(x)
    }
}

pub fn keys(_cx: &mut dyn Context, args: &[Value]) -> R {
    Ok(array(match keys_target(args) {
        Some(Value::Map(m)) => m.keys().map(|k| Value::Str(k.clone())).collect(),
        Some(Value::Array(items)) => (0..items.len()).map(|i| str_value(i.to_string())).collect(),
        _ => vec![],
    }))
}

pub fn values(_cx: &mut dyn Context, args: &[Value]) -> R {
    Ok(array(match keys_target(args) {
        Some(Value::Map(m)) => m.values().cloned().collect(),
        Some(Value::Array(items)) => items.to_vec(),
        _ => vec![],
    }))
}

// ---------------------------------------------------------------------------
// Building and changing

pub fn append(_cx: &mut dyn Context, args: &[Value]) -> R {
    let mut out = Vec::new();
    // The receiver and at most five arguments (quirk).
    for a in args.iter().take(6) {
        match a {
            Value::Array(items) => out.extend(items.iter().cloned()),
            other => out.push(other.clone()),
        }
    }
    Ok(array(out))
}

fn array_to_map(items: &[Value]) -> Map {
    items
        .iter()
        .enumerate()
        .map(|(i, v)| (Arc::from(i.to_string()), v.clone()))
        .collect()
}

/// `cur[key]` for writing: an array index grows the array with nulls if
/// needed; any other key on an array first turns it into a map with keys
/// `"0"`, `"1"`...; a missing map entry is created as null. `cur` must be
/// a collection.
fn child_mut<'a>(cur: &'a mut Value, key: &Arc<str>) -> Result<&'a mut Value, RuntimeError> {
    let index = match cur {
        Value::Array(items) => match array_index(key) {
            Some(i) => Some(i),
            None => {
                let m = array_to_map(items);
                *cur = Value::from(m);
                None
            }
        },
        _ => None,
    };
    match (cur, index) {
        (Value::Array(items), Some(i)) => {
            if i >= items.len() {
                if i - items.len() >= MAX_ARRAY_GROWTH {
                    return Err(RuntimeError::new(format!(
                        "array index {i} is too far past the end (length {})",
                        items.len()
                    )));
                }
                Arc::make_mut(items).resize(i + 1, Value::Null);
            }
            Ok(&mut Arc::make_mut(items)[i])
        }
        (Value::Map(m), _) => Ok(Arc::make_mut(m).entry(key.clone()).or_insert(Value::Null)),
        _ => Err(RuntimeError::new(
            "internal error: path write into a non-collection",
        )),
    }
}

/// Writes `value` at `keys` (non-empty) inside the collection `root`.
/// `fix` decides what an intermediate level becomes, given the next key.
fn write_path(
    root: &mut Value,
    keys: &[Arc<str>],
    value: Value,
    fix: fn(&Value, &str) -> Option<Value>,
) -> Result<(), RuntimeError> {
    let Some((last, init)) = keys.split_last() else {
        return Ok(());
    };
    let mut cur = root;
    for (i, k) in init.iter().enumerate() {
        let child = child_mut(cur, k)?;
        if let Some(replacement) = fix(child, &keys[i + 1]) {
            *child = replacement;
        }
        cur = child;
    }
    *child_mut(cur, last)? = value;
    Ok(())
}

/// `put`'s intermediate levels: maps are walked into; an array only when
/// the next key is an index from 0 to its length, else it becomes a map;
/// anything else is replaced by a new map.
fn put_level(child: &Value, next: &str) -> Option<Value> {
    match child {
        Value::Map(_) => None,
        Value::Array(items) if array_index(next).is_some_and(|i| i <= items.len()) => None,
        Value::Array(items) => Some(Value::from(array_to_map(items))),
        _ => Some(empty_map()),
    }
}

/// `set`'s intermediate levels: collections are walked into; anything else
/// becomes an array when the next key is an index, a map otherwise.
fn set_level(child: &Value, next: &str) -> Option<Value> {
    match child {
        Value::Map(_) | Value::Array(_) => None,
        _ if array_index(next).is_some() => Some(array(vec![])),
        _ => Some(empty_map()),
    }
}

pub fn put(_cx: &mut dyn Context, args: &[Value]) -> R {
    let x = arg(args, 0);
    if !is_collection(x) || args.len() < 2 {
        return Ok(x.clone());
    }
    let (keys, value) = if args.len() < 3 {
        (vec![], arg(args, 1))
    } else {
        (key_path(arg(args, 1)), arg(args, 2))
    };
    if keys.is_empty() {
        return Ok(match (x, value) {
            (Value::Map(a), Value::Map(b)) => {
                let mut merged = (**a).clone();
                for (k, v) in b.iter() {
                    merged.insert(k.clone(), v.clone());
                }
                Value::from(merged)
            }
            (Value::Array(a), Value::Array(b)) => {
                let mut out = b.to_vec();
                if a.len() > b.len() {
                    out.extend(a[b.len()..].iter().cloned());
                }
                array(out)
            }
            _ => value.clone(),
        });
    }
    let mut root = x.clone();
    write_path(&mut root, &keys, value.clone(), put_level)?;
    Ok(root)
}

pub fn set(_cx: &mut dyn Context, args: &[Value]) -> R {
    let x = arg(args, 0);
    let mut root = if is_collection(x) {
        x.clone()
    } else {
        empty_map()
    };
    let keys = key_path(arg(args, 1));
    write_path(&mut root, &keys, arg(args, 2).clone(), set_level)?;
    Ok(root)
}

/// Removes the entry at `path`. On an array the element becomes null
/// (the reference's hole) rather than being removed.
pub fn delete(_cx: &mut dyn Context, args: &[Value]) -> R {
    let x = arg(args, 0);
    let keys = key_path(arg(args, 1));
    let Some((last, init)) = keys.split_last() else {
        return Ok(x.clone());
    };
    let parent = if init.is_empty() {
        Some(x)
    } else {
        get_keys(x, init)
    };
    let present = match parent {
        Some(Value::Map(m)) => m.contains_key(&**last),
        Some(Value::Array(items)) => array_index(last).is_some_and(|i| i < items.len()),
        _ => false,
    };
    if !present {
        return Ok(x.clone());
    }
    let mut root = x.clone();
    let mut cur = &mut root;
    for k in init {
        cur = child_mut(cur, k)?;
    }
    match cur {
        Value::Map(m) => {
            Arc::make_mut(m).shift_remove(&**last);
        }
        Value::Array(items) => {
            if let Some(i) = array_index(last) {
                Arc::make_mut(items)[i] = Value::Null;
            }
        }
        _ => {}
    }
    Ok(root)
}

// ---------------------------------------------------------------------------
// Iteration

/// Calls `f(v, k, c)` for each element (`f` null: the value itself) and
/// hands key, value and result to `each` until it returns false.
fn iterate(
    cx: &mut dyn Context,
    c: &Value,
    f: &Value,
    mut each: impl FnMut(&Value, &Value, Value) -> bool,
) -> Result<(), RuntimeError> {
    let mut visit = |cx: &mut dyn Context, k: Value, v: &Value| -> Result<bool, RuntimeError> {
        let r = if is_null(f) {
            v.clone()
        } else {
            cx.call(f, vec![v.clone(), k.clone(), c.clone()])?
        };
        Ok(each(&k, v, r))
    };
    match c {
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                if !visit(cx, Value::Number(i as f64), v)? {
                    break;
                }
            }
        }
        Value::Map(m) => {
            for (k, v) in m.iter() {
                if !visit(cx, Value::Str(k.clone()), v)? {
                    break;
                }
            }
        }
        _ => return Err(only_collections()),
    }
    Ok(())
}

fn map_key(k: &Value) -> Arc<str> {
    match k {
        Value::Str(s) => s.clone(),
        other => Arc::from(other.to_krl_string()),
    }
}

pub fn map(cx: &mut dyn Context, args: &[Value]) -> R {
    let c = arg(args, 0);
    let mut items = Vec::new();
    let mut entries = Map::default();
    iterate(cx, c, arg(args, 1), |k, _, r| {
        match c {
            Value::Array(_) => items.push(r),
            _ => {
                entries.insert(map_key(k), r);
            }
        }
        true
    })?;
    Ok(match c {
        Value::Array(_) => array(items),
        _ => Value::from(entries),
    })
}

pub fn filter(cx: &mut dyn Context, args: &[Value]) -> R {
    let c = arg(args, 0);
    let mut items = Vec::new();
    let mut entries = Map::default();
    iterate(cx, c, arg(args, 1), |k, v, r| {
        if r.truthy() {
            match c {
                Value::Array(_) => items.push(v.clone()),
                _ => {
                    entries.insert(map_key(k), v.clone());
                }
            }
        }
        true
    })?;
    Ok(match c {
        Value::Array(_) => array(items),
        _ => Value::from(entries),
    })
}

pub fn collect(cx: &mut dyn Context, args: &[Value]) -> R {
    let mut groups: indexmap::IndexMap<Arc<str>, Vec<Value>> = Default::default();
    iterate(cx, arg(args, 0), arg(args, 1), |_, v, r| {
        groups.entry(key(&r)).or_default().push(v.clone());
        true
    })?;
    Ok(Value::from(
        groups
            .into_iter()
            .map(|(k, vs)| (k, array(vs)))
            .collect::<Map>(),
    ))
}

/// Whether some element's result has truthiness `wanted` (stops at it).
fn find_truthiness(
    cx: &mut dyn Context,
    args: &[Value],
    wanted: bool,
) -> Result<bool, RuntimeError> {
    let mut found = false;
    iterate(cx, arg(args, 0), arg(args, 1), |_, _, r| {
        found = r.truthy() == wanted;
        !found
    })?;
    Ok(found)
}

pub fn all(cx: &mut dyn Context, args: &[Value]) -> R {
    Ok(Value::Bool(!find_truthiness(cx, args, false)?))
}

pub fn notall(cx: &mut dyn Context, args: &[Value]) -> R {
    Ok(Value::Bool(find_truthiness(cx, args, false)?))
}

pub fn any(cx: &mut dyn Context, args: &[Value]) -> R {
    Ok(Value::Bool(find_truthiness(cx, args, true)?))
}

pub fn none(cx: &mut dyn Context, args: &[Value]) -> R {
    Ok(Value::Bool(!find_truthiness(cx, args, true)?))
}

pub fn reduce(cx: &mut dyn Context, args: &[Value]) -> R {
    let a = arg(args, 0);
    let Value::Array(items) = a else {
        return Err(only_arrays());
    };
    let f = arg(args, 1);
    let initial = args.get(2);
    let (mut acc, start) = match (initial, items.first()) {
        (None, None) => return Ok(Value::Number(0.0)),
        (Some(init), None) => return Ok(init.clone()),
        (None, Some(first)) if items.len() == 1 => return Ok(first.clone()),
        (None, Some(first)) => (first.clone(), 1),
        (Some(init), Some(_)) => (init.clone(), 0),
    };
    if !is_function(f) {
        return Err(RuntimeError::type_error(format!(
            "The .reduce() operator cannot use {} as a function",
            f.to_krl_string()
        )));
    }
    for (i, v) in items.iter().enumerate().skip(start) {
        acc = cx.call(f, vec![acc, v.clone(), Value::Number(i as f64), a.clone()])?;
    }
    Ok(acc)
}

/// An operand of the set operations: an array's elements, or the value.
fn as_list(v: &Value) -> Cow<'_, [Value]> {
    match v {
        Value::Array(items) => Cow::Borrowed(&items[..]),
        other => Cow::Owned(vec![other.clone()]),
    }
}

pub fn pairwise(cx: &mut dyn Context, args: &[Value]) -> R {
    let lists = arg(args, 0);
    let Value::Array(lists) = lists else {
        return Err(RuntimeError::type_error(format!(
            "The .pairwise() operator cannot be called on {}",
            lists.to_krl_string()
        )));
    };
    if lists.len() < 2 {
        return Err(RuntimeError::type_error(
            "The .pairwise() operator needs a longer array",
        ));
    }
    let f = arg(args, 1);
    if !is_function(f) {
        return Err(RuntimeError::type_error(format!(
            "The .pairwise() operator cannot use {} as a function",
            f.to_krl_string()
        )));
    }
    let lists: Vec<Cow<[Value]>> = lists.iter().map(as_list).collect();
    let longest = lists.iter().map(|l| l.len()).max().unwrap_or(0);
    let mut out = Vec::with_capacity(longest);
    for i in 0..longest {
        let call_args = lists
            .iter()
            .map(|l| l.get(i).cloned().unwrap_or(Value::Null))
            .collect();
        out.push(cx.call(f, call_args)?);
    }
    Ok(array(out))
}

// ---------------------------------------------------------------------------
// Ordering and slicing

fn string_order(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => cmp_utf16(x, y),
        _ => cmp_utf16(&a.to_krl_string(), &b.to_krl_string()),
    }
}

pub fn sort(cx: &mut dyn Context, args: &[Value]) -> R {
    let Value::Array(items) = arg(args, 0) else {
        return Ok(arg(args, 0).clone());
    };
    let items = items.to_vec();
    let how = arg(args, 1);
    let sorted = match how {
        Value::Function(_) => merge_sort(items, &mut |a, b| {
            let r = cx.call(how, vec![a.clone(), b.clone()])?;
            Ok(num(&r).is_some_and(|n| n <= 0.0))
        })?,
        Value::Str(s) if &**s == "reverse" => {
            merge_sort(items, &mut |a, b| Ok(string_order(a, b) != Ordering::Less))?
        }
        Value::Str(s) if &**s == "numeric" => {
            merge_sort(items, &mut |a, b| Ok(compare(a, b) != Ordering::Greater))?
        }
        Value::Str(s) if &**s == "ciremun" => {
            merge_sort(items, &mut |a, b| Ok(compare(a, b) != Ordering::Less))?
        }
        _ => merge_sort(items, &mut |a, b| {
            Ok(string_order(a, b) != Ordering::Greater)
        })?,
    };
    Ok(array(sorted))
}

pub fn reverse(_cx: &mut dyn Context, args: &[Value]) -> R {
    let Value::Array(items) = arg(args, 0) else {
        return Err(only_arrays());
    };
    Ok(array(items.iter().rev().cloned().collect()))
}

/// lodash's integer conversion of a slice bound.
fn to_integer(x: f64) -> f64 {
    if x.is_nan() {
        0.0
    } else {
        x.trunc()
    }
}

/// lodash `_.slice(items, start, end)`: negative bounds count from the end.
fn lodash_slice(items: &[Value], start: f64, end: f64) -> Vec<Value> {
    let len = items.len() as f64;
    let mut s = to_integer(start);
    if s < 0.0 {
        s = if -s > len { 0.0 } else { len + s };
    }
    let mut e = to_integer(end);
    if e > len {
        e = len;
    }
    if e < 0.0 {
        e += len;
    }
    if s >= e {
        return vec![];
    }
    items[s as usize..e as usize].to_vec()
}

pub fn slice(_cx: &mut dyn Context, args: &[Value]) -> R {
    let Value::Array(items) = arg(args, 0) else {
        return Err(only_arrays());
    };
    if items.is_empty() {
        return Ok(array(vec![]));
    }
    if args.len() < 2 {
        return Ok(arg(args, 0).clone());
    }
    let index = |i: usize, what: &str| {
        num(arg(args, i)).ok_or_else(|| {
            RuntimeError::type_error(format!(
                "The .slice() operator cannot use {} as {what}",
                arg(args, i).to_krl_string()
            ))
        })
    };
    let mut first = index(1, "an index")?;
    if args.len() < 3 {
        if first > items.len() as f64 {
            return Ok(array(vec![]));
        }
        return Ok(array(lodash_slice(items, 0.0, first + 1.0)));
    }
    let mut second = index(2, "the other index")?;
    if first > second {
        std::mem::swap(&mut first, &mut second);
    }
    if first >= 0.0 && second < items.len() as f64 {
        return Ok(array(lodash_slice(items, first, second + 1.0)));
    }
    Ok(array(vec![]))
}

pub fn splice(_cx: &mut dyn Context, args: &[Value]) -> R {
    let Value::Array(items) = arg(args, 0) else {
        return Err(only_arrays());
    };
    if items.is_empty() {
        return Ok(array(vec![]));
    }
    let number = |i: usize, what: &str| {
        num(arg(args, i)).ok_or_else(|| {
            RuntimeError::type_error(format!(
                "The .splice() operator cannot use {} as {what}",
                arg(args, i).to_krl_string()
            ))
        })
    };
    let len = items.len() as f64;
    let start = number(1, "an index")?.max(0.0).min(len - 1.0);
    let mut count = number(2, "a number of elements")?;
    if count < 0.0 || start + count > len {
        count = len - start;
    }
    let mut out = lodash_slice(items, 0.0, start);
    if args.len() >= 4 {
        match &args[3] {
            Value::Array(inserted) => out.extend(inserted.iter().cloned()),
            other => out.push(other.clone()),
        }
    }
    out.extend(lodash_slice(items, start + count, len));
    Ok(array(out))
}

pub fn join(_cx: &mut dyn Context, args: &[Value]) -> R {
    let Value::Array(items) = arg(args, 0) else {
        return Ok(str_value(arg(args, 0).to_krl_string()));
    };
    let sep = match arg(args, 1) {
        s if is_null(s) => ",".to_string(),
        s => s.to_krl_string(),
    };
    let parts: Vec<String> = items.iter().map(Value::to_krl_string).collect();
    let len = parts.iter().map(String::len).sum::<usize>()
        + sep.len().saturating_mul(parts.len().saturating_sub(1));
    if len > super::MAX_STRING_BYTES {
        return Err(super::string_too_long(len));
    }
    Ok(str_value(parts.join(&sep)))
}

// ---------------------------------------------------------------------------
// Set operations

/// A structural hash agreeing with deep equality (map entries hashed
/// independently of order, `-0` like `0`).
fn hash_value(v: &Value, h: &mut DefaultHasher) {
    match v {
        Value::Null => 0u8.hash(h),
        Value::Bool(b) => (1u8, b).hash(h),
        Value::Number(n) => (2u8, if *n == 0.0 { 0u64 } else { n.to_bits() }).hash(h),
        Value::Str(s) => (3u8, &**s).hash(h),
        Value::Array(items) => {
            (4u8, items.len()).hash(h);
            for x in items.iter() {
                hash_value(x, h);
            }
        }
        Value::Map(m) => {
            let mut sum = 0u64;
            for (k, x) in m.iter() {
                let mut eh = DefaultHasher::new();
                k.hash(&mut eh);
                hash_value(x, &mut eh);
                sum = sum.wrapping_add(eh.finish());
            }
            (5u8, m.len(), sum).hash(h);
        }
        Value::Regex(r) => (6u8, &r.source, &r.flags).hash(h),
        Value::Function(f) => (7u8, Arc::as_ptr(f) as *const () as usize).hash(h),
        Value::Action(f) => (8u8, Arc::as_ptr(f) as *const () as usize).hash(h),
    }
}

fn hash_of(v: &Value) -> u64 {
    let mut h = DefaultHasher::new();
    hash_value(v, &mut h);
    h.finish()
}

/// Deep-equality lookup over a list.
struct Lookup<'a> {
    items: &'a [Value],
    buckets: HashMap<u64, Vec<usize>>,
}

impl<'a> Lookup<'a> {
    fn new(items: &'a [Value]) -> Lookup<'a> {
        let mut l = Lookup {
            items,
            buckets: HashMap::new(),
        };
        for i in 0..items.len() {
            l.first_equal(i);
        }
        l
    }

    /// The index of the first element equal to `items[i]` (registering it
    /// if it is the first).
    fn first_equal(&mut self, i: usize) -> usize {
        let x = &self.items[i];
        let bucket = self.buckets.entry(hash_of(x)).or_default();
        match bucket.iter().find(|&&j| equals(&self.items[j], x)) {
            Some(&j) => j,
            None => {
                bucket.push(i);
                i
            }
        }
    }

    fn contains(&self, v: &Value) -> bool {
        self.buckets
            .get(&hash_of(v))
            .is_some_and(|b| b.iter().any(|&j| equals(&self.items[j], v)))
    }
}

/// For each element, the index of its first occurrence.
fn first_occurrences(items: &[Value]) -> Vec<usize> {
    let mut l = Lookup {
        items,
        buckets: HashMap::new(),
    };
    (0..items.len()).map(|i| l.first_equal(i)).collect()
}

fn distinct(items: &[Value]) -> Vec<Value> {
    let firsts = first_occurrences(items);
    items
        .iter()
        .zip(firsts.iter().enumerate())
        .filter(|(_, (i, f))| i == *f)
        .map(|(x, _)| x.clone())
        .collect()
}

pub fn union(_cx: &mut dyn Context, args: &[Value]) -> R {
    if args.len() < 2 {
        return Ok(arg(args, 0).clone());
    }
    let mut all = as_list(&args[0]).into_owned();
    all.extend(as_list(&args[1]).iter().cloned());
    Ok(array(distinct(&all)))
}

pub fn intersection(_cx: &mut dyn Context, args: &[Value]) -> R {
    if args.len() < 2 {
        return Ok(array(vec![]));
    }
    let b = as_list(&args[1]);
    let in_b = Lookup::new(&b);
    let out = distinct(&as_list(&args[0]))
        .into_iter()
        .filter(|x| in_b.contains(x))
        .collect();
    Ok(array(out))
}

pub fn difference(_cx: &mut dyn Context, args: &[Value]) -> R {
    if args.len() < 2 {
        return Ok(arg(args, 0).clone());
    }
    let b = as_list(&args[1]);
    let in_b = Lookup::new(&b);
    let out = as_list(&args[0])
        .iter()
        .filter(|x| !in_b.contains(x))
        .cloned()
        .collect();
    Ok(array(out))
}

pub fn has(_cx: &mut dyn Context, args: &[Value]) -> R {
    let b = arg(args, 1);
    if is_null(b) {
        return Ok(Value::Bool(false));
    }
    let a = as_list(arg(args, 0));
    let in_a = Lookup::new(&a);
    Ok(Value::Bool(as_list(b).iter().all(|x| in_a.contains(x))))
}

pub fn unique(_cx: &mut dyn Context, args: &[Value]) -> R {
    Ok(match arg(args, 0) {
        Value::Array(items) => array(distinct(items)),
        other => other.clone(),
    })
}

/// The first occurrence of each element occurring exactly once (`once`)
/// or more than once (`!once`), in order.
fn by_count(items: &[Value], once: bool) -> Vec<Value> {
    let firsts = first_occurrences(items);
    let mut counts = vec![0usize; items.len()];
    for &f in &firsts {
        counts[f] += 1;
    }
    (0..items.len())
        .filter(|&i| firsts[i] == i && (counts[i] == 1) == once)
        .map(|i| items[i].clone())
        .collect()
}

pub fn once(_cx: &mut dyn Context, args: &[Value]) -> R {
    Ok(match arg(args, 0) {
        Value::Array(items) => array(by_count(items, true)),
        other => other.clone(),
    })
}

pub fn duplicates(_cx: &mut dyn Context, args: &[Value]) -> R {
    Ok(match arg(args, 0) {
        Value::Array(items) => array(by_count(items, false)),
        _ => array(vec![]),
    })
}

#[cfg(test)]
mod tests {
    use super::super::ops;
    use super::super::testing::{a, func, run, run_cx, try_func, v, TestCx};
    use super::*;
    use serde_json::json;

    fn add_fn() -> Value {
        try_func(|x| ops::add(&a(x, 0), &a(x, 1)))
    }

    #[test]
    fn length_and_is_empty() {
        check!("length"("abc") => 3);
        check!("length"("😀é") => 2);
        check!("length"(json!({"a": 1})) => 1);
        check!("length"(json!([1, 2])) => 2);
        check!("length"(42) => 0);
        check!("length"(()) => 0);
        check!("isEmpty"(" ") => false);
        check!("isEmpty"(5) => true);
        check!("isEmpty"(()) => true);
        check!("isEmpty"(true) => true);
        check!("isEmpty"("") => true);
        check!("isEmpty"(json!([])) => true);
        check!("isEmpty"(json!({})) => true);
        check!("isEmpty"(json!([0])) => false);
        check!("isEmpty"(json!({"a": null})) => false);
        check!("isEmpty"(add_fn()) => true);
    }

    #[test]
    fn get_paths() {
        check!("get"(json!(["a", "b", {"c": ["d", "e"]}]), json!([2, "c", 1])) => "e");
        let obj = json!({"a": 1, "b": {"c": [2, 3, {"d": "deep"}]}});
        check!("get"(obj.clone(), json!(["b", "c", 2, "d"])) => "deep");
        check!("get"(obj.clone(), "zzz") => ());
        check!("get"(obj.clone(), "a") => 1);
        check!("get"(obj.clone(), json!(["b", "c", "1"])) => 3);
        check!("get"(obj.clone(), json!(["b", "c", -1])) => ());
        check!("get"(obj.clone(), json!(["b", "c", "01"])) => ());
        check!("get"(obj.clone(), json!(["a", "x"])) => ());
        check!("get"(obj, json!([])) => ());
        check!("get"((), "a") => ());
        check!("get"("abc", 0) => ());
        check!("get"(json!({"null": 5}), ()) => 5);
        check!("get"(json!({"1": 5}), 1) => 5);
        assert!(same(
            &get_path(&v(json!([[1, 2]])), &v(json!([0, 1]))),
            &v(2)
        ));
    }

    #[test]
    fn head_tail_index() {
        check!("head"(json!([3, 4, 5])) => 3);
        check!("head"(json!([])) => ());
        check!("head"("str") => "str");
        check!("tail"(json!([3, 4, 5])) => json!([4, 5]));
        check!("tail"(json!([])) => json!([]));
        check!("tail"("str") => json!([]));
        check!("index"(json!([3, 4, 5]), 5) => 2);
        check!("index"(json!([0, null]), ()) => 1);
        check!("index"(json!([[1], {"a": [2]}]), json!({"a": [2]})) => 1);
        check!("index"(json!([3, 4, 5]), "5") => -1);
        check_err!("index"("abc", "b") => "TypeError: only works on Arrays");
    }

    #[test]
    fn keys_and_values() {
        check!("keys"(json!({"b": 1, "a": 2})) => json!(["b", "a"]));
        check!("keys"(json!(["x", "y"])) => json!(["0", "1"]));
        check!("keys"("abc") => json!([]));
        check!("keys"(json!({"a": {"c": 1, "b": 2}}), "a") => json!(["c", "b"]));
        check!("keys"(json!({"a": {"c": 1}}), json!(["a", "c"])) => json!([]));
        check!("keys"(json!({"a": 1}), "zz") => json!([]));
        check!("keys"(json!({"a": 1}), ()) => json!(["a"]));
        check!("values"(json!({"a": [1, 2]}), json!(["a"])) => json!([1, 2]));
        check!("values"(json!({"b": 1, "a": 2})) => json!([1, 2]));
        check!("values"(5) => json!([]));
        check!("values"(json!({"a": {"x": true}}), "a") => json!([true]));
    }

    #[test]
    fn append_examples() {
        check!("append"(json!(["a", "b"]), json!(["c", "a"])) => json!(["a", "b", "c", "a"]));
        check!("append"(json!(["a"]), "b") => json!(["a", "b"]));
        check!("append"(10, 11) => json!([10, 11]));
        check!("append"(json!([3]), json!([[]])) => json!([3, []]));
        check!("append"((), "b") => json!([null, "b"]));
        check!("append"((), json!({"x": 1})) => json!([null, {"x": 1}]));
        check!("append"(json!([1])) => json!([1]));
        check!("append"(1, 2, json!([3, 4]), 5, 6, 7, 8) => json!([1, 2, 3, 4, 5, 6, 7]));
    }

    #[test]
    fn put_examples() {
        check!("put"(json!({"key": 5}), json!({"foo": "bar"})) => json!({"key": 5, "foo": "bar"}));
        check!("put"(json!({"key": 5}), json!(["baz"]), json!({"foo": "bar"}))
            => json!({"key": 5, "baz": {"foo": "bar"}}));
        check!("put"(json!({}), json!(["a", "b"]), json!([])) => json!({"a": {"b": []}}));
        check!("put"(json!({}), json!([0, 1]), "foo") => json!({"0": {"1": "foo"}}));
        check!("put"(json!({"one": [2, 3]}), json!(["one", 1]), 4) => json!({"one": [2, 4]}));
        check!("put"(json!({"one": [2, 3]}), json!(["one", "2"]), 4) => json!({"one": [2, 3, 4]}));
        check!("put"(json!({"one": [2, 3]}), json!(["one", "3"]), 4)
            => json!({"one": {"0": 2, "1": 3, "3": 4}}));
        check!("put"(5, json!(["key"]), 9) => 5);
    }

    #[test]
    fn put_details() {
        check!("put"(json!({"a": 1})) => json!({"a": 1}));
        check!("put"(json!([1, 2, 3]), json!([9])) => json!([9, 2, 3]));
        check!("put"(json!([1]), json!([7, 8])) => json!([7, 8]));
        check!("put"(json!({"a": 1}), json!([9])) => json!([9]));
        check!("put"(json!([1]), json!({"a": 1})) => json!({"a": 1}));
        check!("put"(json!({"a": 1}), 5) => 5);
        check!("put"(json!({"a": 1, "b": 2}), json!({"a": 3, "c": 4})) => json!({"a": 3, "b": 2, "c": 4}));
        check!("put"(json!({"a": 1}), json!([]), 7) => 7);
        check!("put"(json!({"a": 1}), (), 2) => json!({"a": 1, "null": 2}));
        check!("put"(json!({"a": 1, "b": 2}), "a", 3) => json!({"a": 3, "b": 2}));
        check!("put"(json!({"a": {"x": 1}}), json!(["a", "y"]), 2) => json!({"a": {"x": 1, "y": 2}}));
        check!("put"(json!({"a": 5}), json!(["a", "y"]), 2) => json!({"a": {"y": 2}}));
        check!("put"(json!([1]), json!([3]), 2) => json!([1, null, null, 2]));
        check!("put"(json!([1]), json!(["x"]), 2) => json!({"0": 1, "x": 2}));
        check!("put"(json!([[1], [2]]), json!([1, 0]), 9) => json!([[1], [9]]));
        assert!(run("put", vec![v(json!([])), v(json!([1e9])), v(1)]).is_err());
    }

    #[test]
    fn put_does_not_touch_its_input() {
        let original = v(json!({"a": {"b": [1, 2]}}));
        let copy = original.clone();
        let got = run("put", vec![original.clone(), v(json!(["a", "b", 0])), v(9)]).unwrap();
        assert!(same(&got, &v(json!({"a": {"b": [9, 2]}}))));
        assert!(same(&original, &copy));
        assert!(same(&original, &v(json!({"a": {"b": [1, 2]}}))));
    }

    #[test]
    fn set_examples() {
        check!("set"(json!({"foo": {"bar": 1}}), json!(["foo", "baz"]), "qux")
            => json!({"foo": {"bar": 1, "baz": "qux"}}));
        check!("set"(json!(["a", "b", "c"]), json!([1]), "wat?") => json!(["a", "wat?", "c"]));
        check!("set"((), "a", 1) => json!({"a": 1}));
        check!("set"(json!({}), json!(["a", "0"]), 1) => json!({"a": [1]}));
        check!("set"(json!({}), json!(["a", "x", 2]), 1) => json!({"a": {"x": [null, null, 1]}}));
        check!("set"(json!([{"id": "one"}, {"id": "two"}]), json!([1, "other"]), "thing")
            => json!([{"id": "one"}, {"id": "two", "other": "thing"}]));
        check!("set"(json!({"a": 1}), json!([]), 2) => json!({"a": 1}));
        check!("set"(json!({"a": 1}), "b") => json!({"a": 1, "b": null}));
        check!("set"(json!({"a": [1]}), json!(["a", 1]), 2) => json!({"a": [1, 2]}));
    }

    #[test]
    fn delete_examples() {
        check!("delete"(json!({"a": 1, "b": {"c": 2}}), json!(["b", "c"])) => json!({"a": 1, "b": {}}));
        check!("delete"(json!({"a": 1, "b": 2, "c": 3}), "b") => json!({"a": 1, "c": 3}));
        check!("delete"(json!({"a": 1}), "zz") => json!({"a": 1}));
        check!("delete"(json!({"a": 1}), json!(["a", "b"])) => json!({"a": 1}));
        check!("delete"(json!({"a": [1, 2, 3]}), json!(["a", 1])) => json!({"a": [1, null, 3]}));
        check!("delete"(json!({"a": [1]}), json!(["a", 5])) => json!({"a": [1]}));
        check!("delete"(5, "a") => 5);
        check!("delete"(json!({"a": 1}), json!([])) => json!({"a": 1}));
        check!("delete"(json!({"null": 1, "b": 2}), ()) => json!({"b": 2}));
        check!("delete"(json!({"headers": {"date": "x", "a": 1}, "content": 2}), json!(["headers", "date"]))
            => json!({"headers": {"a": 1}, "content": 2}));
    }

    #[test]
    fn map_filter_collect() {
        let plus2 = try_func(|x| ops::add(&a(x, 0), &v(2)));
        check!("map"(json!([1, 2, 3]), plus2) => json!([3, 4, 5]));
        check!("map"(json!({"a": 1, "b": 2}), add_fn()) => json!({"a": "1a", "b": "2b"}));
        check!("map"(json!([1, 2])) => json!([1, 2]));
        check!("map"(json!([5, 6]), func(|x| a(x, 1))) => json!([0, 1]));
        check!("map"(json!([]), add_fn()) => json!([]));
        check_err!("map"(5, add_fn()) => "TypeError: only works on collections");
        let odd = try_func(|x| {
            let r = ops::rem(&a(x, 0), &v(2))?;
            ops::ne(&r, &v(0))
        });
        check!("filter"(json!({"a": 1, "b": 2, "c": 3}), odd.clone()) => json!({"a": 1, "c": 3}));
        check!("filter"(json!([1, 2, 3]), odd) => json!([1, 3]));
        check!("filter"(json!([0, 1, "", "x", null, false, []])) => json!([1, "x", []]));
        check_err!("filter"("abc") => "TypeError: only works on collections");
        let xy = func(|x| {
            v(if ops::lt(&a(x, 0), &v(5)).unwrap().truthy() {
                "x"
            } else {
                "y"
            })
        });
        check!("collect"(json!([7, 4, 3, 5, 2, 1, 6]), xy)
            => json!({"y": [7, 5, 6], "x": [4, 3, 2, 1]}));
        check!("collect"(json!([1, "1", 2])) => json!({"1": [1, "1"], "2": [2]}));
        check!("collect"(json!({"a": 1, "b": 1}), func(|x| a(x, 0))) => json!({"1": [1, 1]}));
        check_err!("collect"((), ()) => "TypeError: only works on collections");
    }

    #[test]
    fn callbacks_receive_value_key_and_collection() {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        let f = func(move |x| {
            log.lock().unwrap().push(format!("{:?}", x));
            v(true)
        });
        run("map", vec![v(json!({"k": 1})), f.clone()]).unwrap();
        run("all", vec![v(json!([7])), f]).unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            [r#"[1, "k", {"k": 1}]"#, "[7, 0, [7]]"]
        );
    }

    #[test]
    fn quantifiers() {
        let small = try_func(|x| ops::lt(&a(x, 0), &v(10)));
        check!("all"(json!([3, 4, 5]), small.clone()) => true);
        check!("all"(json!([3, 40, 5]), small.clone()) => false);
        check!("any"(json!([30, 4, 50]), small.clone()) => true);
        check!("any"(json!([30, 40]), small.clone()) => false);
        check!("none"(json!([30, 40]), small.clone()) => true);
        check!("none"(json!([3, 40]), small.clone()) => false);
        check!("notall"(json!([3, 40]), small.clone()) => true);
        check!("notall"(json!([3, 4]), small.clone()) => false);
        check!("all"(json!([]), small.clone()) => true);
        check!("any"(json!([]), small.clone()) => false);
        check!("none"(json!([]), small.clone()) => true);
        check!("notall"(json!([]), small.clone()) => false);
        check!("all"(json!({"a": 1, "b": 2}), small.clone()) => true);
        check!("any"(json!([0, null, 1])) => true);
        check_err!("all"(7, small) => "TypeError: only works on collections");
    }

    #[test]
    fn quantifiers_stop_early() {
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = calls.clone();
        let small = try_func(move |x| {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            ops::lt(&a(x, 0), &v(10))
        });
        run("any", vec![v(json!([1, 2, 3])), small.clone()]).unwrap();
        run("all", vec![v(json!([11, 2, 3])), small]).unwrap();
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[test]
    fn reduce_examples() {
        let sub = try_func(|x| ops::sub(&a(x, 0), &a(x, 1)));
        check!("reduce"(json!([3, 4, 5]), add_fn()) => 12);
        check!("reduce"(json!([3, 4, 5]), add_fn(), 10) => 22);
        check!("reduce"(json!([3, 4, 5]), sub) => -6);
        check!("reduce"(json!([]), add_fn()) => 0);
        check!("reduce"(json!([]), add_fn(), ()) => ());
        check!("reduce"(json!([]), add_fn(), "d") => "d");
        check!("reduce"(json!([7]), add_fn()) => 7);
        check!("reduce"(json!([7]), 5) => 7);
        check!("reduce"(json!([7]), add_fn(), 1) => 8);
        check!("reduce"(json!(["a", "b"]), func(|x| v(format!("{:?}", x)))) => r#"["a", "b", 1, ["a", "b"]]"#);
        check_err!("reduce"(json!([1, 2]), 5) => "TypeError: The .reduce() operator cannot use 5 as a function");
        check_err!("reduce"(json!([1]), (), 0) => "TypeError: The .reduce() operator cannot use null as a function");
        check_err!("reduce"(json!({}), add_fn()) => "TypeError: only works on Arrays");
    }

    #[test]
    fn pairwise_examples() {
        check!("pairwise"(json!([[3, 4, 5], [6, 7, 8]]), add_fn()) => json!([9, 11, 13]));
        check!("pairwise"(json!([[3, 4, 5], ["a", "b", "c", "d"]]), add_fn())
            => json!(["3a", "4b", "5c", "nulld"]));
        check!("pairwise"(json!([1, [2, 3]]), add_fn()) => json!([3, "null3"]));
        check_err!("pairwise"("x", add_fn()) => "TypeError: The .pairwise() operator cannot be called on x");
        check_err!("pairwise"(json!([[1]]), add_fn()) => "TypeError: The .pairwise() operator needs a longer array");
        check_err!("pairwise"(json!([[1], [2]]), 3) => "TypeError: The .pairwise() operator cannot use 3 as a function");
    }

    #[test]
    fn sort_examples() {
        check!("sort"(json!([5, 3, 4, 1, 12])) => json!([1, 12, 3, 4, 5]));
        check!("sort"(json!([5, 3, 4, 1, 12]), "default") => json!([1, 12, 3, 4, 5]));
        check!("sort"(json!([5, 3, 4, 1, 12]), "numeric") => json!([1, 3, 4, 5, 12]));
        check!("sort"(json!([5, 3, 4, 1, 12]), "ciremun") => json!([12, 5, 4, 3, 1]));
        check!("sort"(json!([5, 3, 4, 1, 12]), "reverse") => json!([5, 4, 3, 12, 1]));
        check!("sort"(json!(["b", "A", "a"])) => json!(["A", "a", "b"]));
        check!("sort"(json!(["b", "A", "a"]), "bogus") => json!(["A", "a", "b"]));
        check!("sort"("str") => "str");
        check!("sort"(json!([])) => json!([]));
        let by_n =
            try_func(|x| ops::cmp3(&get_path(&a(x, 0), &v("n")), &get_path(&a(x, 1), &v("n"))));
        check!("sort"(json!([{"n": 2}, {"n": 1}]), by_n) => json!([{"n": 1}, {"n": 2}]));
    }

    #[test]
    fn sorts_are_stable() {
        let items = json!([{"k": 1, "i": 0}, {"k": 0, "i": 1}, {"k": 1, "i": 2}, {"k": 0, "i": 3}]);
        let by_k =
            try_func(|x| ops::cmp3(&get_path(&a(x, 0), &v("k")), &get_path(&a(x, 1), &v("k"))));
        check!("sort"(items, by_k) => json!([{"k": 0, "i": 1}, {"k": 0, "i": 3}, {"k": 1, "i": 0}, {"k": 1, "i": 2}]));
        check!("sort"(json!(["10", 10, "9"]), "numeric") => json!(["9", "10", 10]));
        check!("sort"(json!(["10", 10, "9"]), "ciremun") => json!(["10", 10, "9"]));
        check!("sort"(json!([2, "2", 1]), "reverse") => json!([2, "2", 1]));
    }

    #[test]
    fn sort_comparator_errors_propagate() {
        let bad = try_func(|_| Err(RuntimeError::new("nope")));
        let mut cx = TestCx::default();
        let e = run_cx(&mut cx, "sort", vec![v(json!([2, 1])), bad]).unwrap_err();
        assert_eq!(e.message, "nope");
    }

    #[test]
    fn reverse_examples() {
        check!("reverse"(json!([1, [2], 3])) => json!([3, [2], 1]));
        check!("reverse"(json!([])) => json!([]));
        check_err!("reverse"("abc") => "TypeError: only works on Arrays");
    }

    #[test]
    fn slice_examples() {
        let veg = json!(["corn", "tomato", "tomato", "tomato", "sprouts"]);
        check!("slice"(veg, 1, 3) => json!(["tomato", "tomato", "tomato"]));
        check!("slice"(json!([1, 2, 3]), 1) => json!([1, 2]));
        check!("slice"(json!([1, 2, 3]), 2, 0) => json!([1, 2, 3]));
        check!("slice"(json!([1, 2, 3]), 2, -1) => json!([]));
        check!("slice"(json!([1, 2, 3]), 5) => json!([]));
        check!("slice"(json!([1, 2, 3]), 3) => json!([1, 2, 3]));
        check!("slice"(json!([1, 2, 3]), 0, 3) => json!([]));
        check!("slice"(json!([1, 2, 3]), ()) => json!([1]));
        check!("slice"(json!([1, 2, 3])) => json!([1, 2, 3]));
        check!("slice"(json!([]), 1, 2) => json!([]));
        check!("slice"(json!([1, 2, 3]), -2) => json!([1, 2]));
        check_err!("slice"(json!([1]), "x") => "TypeError: The .slice() operator cannot use x as an index");
        check_err!("slice"(json!([1]), 0, "y") => "TypeError: The .slice() operator cannot use y as the other index");
        check_err!("slice"("abc", 1) => "TypeError: only works on Arrays");
    }

    #[test]
    fn splice_examples() {
        check!("splice"(json!([10, 20, 30, 40]), 1, 2) => json!([10, 40]));
        check!("splice"(json!([10, 20, 30, 40]), 1, 0, json!(["x"])) => json!([10, "x", 20, 30, 40]));
        check!("splice"(json!([10, 20, 30, 40]), 1, 10, "y") => json!([10, "y"]));
        check!("splice"(json!([10, 20, 30, 40]), -5, 1) => json!([20, 30, 40]));
        check!("splice"(json!([10, 20, 30, 40]), 9, 1) => json!([10, 20, 30]));
        check!("splice"(json!([10, 20, 30, 40]), 2, -1) => json!([10, 20]));
        check!("splice"(json!([10, 20, 30, 40]), 2) => json!([10, 20, 30, 40]));
        check!("splice"(json!([10, 20]), 1, 0, ()) => json!([10, null, 20]));
        check!("splice"(json!([]), 1, 0, 5) => json!([]));
        check_err!("splice"(json!([1]), "x", 1) => "TypeError: The .splice() operator cannot use x as an index");
        check_err!("splice"(json!([1]), 0, "n") => "TypeError: The .splice() operator cannot use n as a number of elements");
        check_err!("splice"(5, 0, 1) => "TypeError: only works on Arrays");
    }

    #[test]
    fn join_examples() {
        check!("join"(json!([3, 4, 5]), ";") => "3;4;5");
        check!("join"(json!([1, [2], {"a": 1}]), "|") => "1|[Array]|[Map]");
        check!("join"(json!([1, null, "x"])) => "1,null,x");
        check!("join"(json!([1, 2]), ()) => "1,2");
        check!("join"(json!([1, 2]), "") => "12");
        check!("join"(json!([])) => "");
        check!("join"(5, ";") => "5");
    }

    #[test]
    fn set_operations() {
        check!("union"(json!([1, 2]), json!([1, 4])) => json!([1, 2, 4]));
        check!("union"(json!([1, 1]), 2) => json!([1, 2]));
        check!("union"(json!([1, 2])) => json!([1, 2]));
        check!("union"(5) => 5);
        check!("union"(json!([{"a": 1}]), json!([{"a": 1.0}, [1]])) => json!([{"a": 1}, [1]]));
        check!("intersection"(json!([[2], 2, 1, null]), json!([[2], "1", 2, null])) => json!([[2], 2, null]));
        check!("intersection"(json!([1, 2])) => json!([]));
        check!("intersection"(json!([1, 1, 2]), 1) => json!([1]));
        check!("difference"(json!([2, 1]), 2) => json!([1]));
        check!("difference"(json!([1, 2, 1, 3]), json!([3])) => json!([1, 2, 1]));
        check!("difference"(json!([1, 2])) => json!([1, 2]));
        check!("has"(json!([1, 2, 3, 4]), json!([4, 2])) => true);
        check!("has"(json!([1, 2, 3, 4]), json!([4, 5])) => false);
        check!("has"(json!([]), json!([])) => true);
        check!("has"(json!([1, 2]), 2) => true);
        check!("has"(json!([1, 2])) => false);
        check!("has"(json!([null]), ()) => false);
        check!("has"(3, 3) => true);
    }

    #[test]
    fn unique_once_duplicates() {
        check!("unique"(json!([1, 2, 1, [3], [4], [4]])) => json!([1, 2, [3], [4]]));
        check!("unique"(json!([{"a": 1, "b": 2}, {"b": 2, "a": 1}, 0, -0.0])) => json!([{"a": 1, "b": 2}, 0]));
        check!("unique"("x") => "x");
        check!("once"(json!([1, 2, 1, 3, 4, 4])) => json!([2, 3]));
        check!("once"(json!([1, "1"])) => json!([1, "1"]));
        check!("once"(5) => 5);
        check!("duplicates"(json!([1, 2, 1, 3, 4, 4])) => json!([1, 4]));
        check!("duplicates"(json!([{"a": [1]}, {"a": [1]}, {"a": [2]}])) => json!([{"a": [1]}]));
        check!("duplicates"(5) => json!([]));
    }

    #[test]
    fn set_operations_scale() {
        let big: Vec<Value> = (0..20_000).map(|i| v((i % 1000) as f64)).collect();
        let got = run("unique", vec![array(big)]).unwrap();
        assert!(matches!(&got, Value::Array(a) if a.len() == 1000));
    }

    use super::super::testing::same;
}
