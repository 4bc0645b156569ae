//! The KRL standard library (docs/spec/krl-stdlib.md 2–7) and the operators
//! ([`ops`], docs/spec/krl-stdlib.md 1), as pure functions over [`Value`].
//!
//! Every library function is a [`Builtin`]: a name, the parameter names
//! (for named arguments) and a plain `fn`. [`function`] finds one by name;
//! the compiler looks each name up once.
//!
//! Calling convention: `args` holds the receiver first (`x.f(a)` is
//! `f(x, a)`), and its length is the number of arguments *supplied* — the
//! evaluator passes exactly those, named arguments already bound to their
//! positions and gaps filled with null. So "omitted" (shorter `args`) and
//! "null" can be told apart, as `reduce`, `put`, `range`... require.
//! Extra arguments beyond [`Builtin::params`] are ignored.
//!
//! Strings are measured and indexed in characters (Unicode code points);
//! string *comparison* uses UTF-16 code units like the reference.
//!
//! Where the reference (Pico Engine 1.4) and the spec differ, the spec
//! wins; the few deliberate deviations are noted on the functions.

#[cfg(test)]
#[macro_use]
pub(crate) mod testing;

/// The longest string `+` and `join` build, in bytes: past it they are a
/// runtime error, so a rule that keeps doubling a string fails instead of
/// exhausting the engine's memory.
pub const MAX_STRING_BYTES: usize = 64 << 20;

/// The error for a string of `len` bytes past [`MAX_STRING_BYTES`].
pub fn string_too_long(len: usize) -> RuntimeError {
    RuntimeError::new(format!(
        "a string of {len} bytes is too long (at most {} MiB)",
        MAX_STRING_BYTES >> 20
    ))
}

mod collections;
pub mod ops;
mod pick;
mod strings;
mod values;

pub use collections::{get_path, key_path};
pub use values::encode_json;

use super::error::RuntimeError;
use super::value::{Context, Regex, Value};
use std::cmp::Ordering;
use std::sync::Arc;

/// The signature of every library function: the context (for callbacks and
/// `klog`) and the supplied arguments, receiver first.
pub type BuiltinFn = fn(&mut dyn Context, &[Value]) -> Result<Value, RuntimeError>;

/// A library function.
pub struct Builtin {
    /// Its KRL name (`"substr"`).
    pub name: &'static str,
    /// Parameter names, receiver first, for named arguments.
    pub params: &'static [&'static str],
    /// Runs it; see the module documentation for `args`.
    pub run: BuiltinFn,
}

impl std::fmt::Debug for Builtin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Builtin({})", self.name)
    }
}

/// The library function called `name`, if there is one.
pub fn function(name: &str) -> Option<&'static Builtin> {
    FUNCTIONS
        .binary_search_by(|b| b.name.cmp(name))
        .ok()
        .map(|i| &FUNCTIONS[i])
}

/// Every library function, sorted by name.
pub fn all() -> &'static [Builtin] {
    FUNCTIONS
}

macro_rules! builtins {
    ($( $name:literal [$($param:literal),*] => $run:path ),* $(,)?) => {
        /// Sorted by name (byte order), for binary search.
        static FUNCTIONS: &[Builtin] = &[
            $( Builtin { name: $name, params: &[$($param),*], run: $run } ),*
        ];
    };
}

builtins! {
    "all" ["c", "f"] => collections::all,
    "any" ["c", "f"] => collections::any,
    "append" ["a", "b", "c", "d", "e", "f"] => collections::append,
    "as" ["x", "type"] => values::as_,
    "band" ["a", "b"] => values::band,
    "bnot" ["a"] => values::bnot,
    "bor" ["a", "b"] => values::bor,
    "bxor" ["a", "b"] => values::bxor,
    "capitalize" ["s"] => strings::capitalize,
    "chr" ["code"] => values::chr,
    "collect" ["c", "f"] => collections::collect,
    "contains" ["s", "t"] => strings::contains,
    "decode" ["val"] => values::decode,
    "defaultsTo" ["x", "default", "message"] => values::defaults_to,
    "delete" ["x", "path"] => collections::delete,
    "difference" ["a", "b"] => collections::difference,
    "duplicates" ["a"] => collections::duplicates,
    "encode" ["val", "indent"] => values::encode,
    "endsWith" ["s", "t"] => strings::ends_with,
    "extract" ["s", "regex"] => strings::extract,
    "filter" ["c", "f"] => collections::filter,
    "get" ["x", "path"] => collections::get,
    "has" ["a", "b"] => collections::has,
    "head" ["x"] => collections::head,
    "index" ["a", "v"] => collections::index,
    "intersection" ["a", "b"] => collections::intersection,
    "isEmpty" ["x"] => collections::is_empty,
    "isnull" ["x"] => values::isnull,
    "join" ["a", "separator"] => collections::join,
    "keys" ["x", "path"] => collections::keys,
    "klog" ["x", "message"] => values::klog,
    "lc" ["s"] => strings::lc,
    "length" ["x"] => collections::length,
    "map" ["c", "f"] => collections::map,
    "match" ["s", "regex"] => strings::match_,
    "none" ["c", "f"] => collections::none,
    "noop" [] => values::noop,
    "notall" ["c", "f"] => collections::notall,
    "once" ["a"] => collections::once,
    "ord" ["s"] => strings::ord,
    "pairwise" ["lists", "f"] => collections::pairwise,
    "pick" ["x", "path", "force_array"] => pick::pick,
    "put" ["x", "path", "value"] => collections::put,
    "range" ["start", "end"] => values::range,
    "reduce" ["a", "f", "initial"] => collections::reduce,
    "replace" ["s", "pattern", "replacement"] => strings::replace,
    "reverse" ["a"] => collections::reverse,
    "set" ["x", "path", "value"] => collections::set,
    "shiftLeft" ["a", "n"] => values::shift_left,
    "shiftRight" ["a", "n"] => values::shift_right,
    "slice" ["a", "i", "j"] => collections::slice,
    "sort" ["a", "how"] => collections::sort,
    "splice" ["a", "start", "count", "value"] => collections::splice,
    "split" ["s", "separator"] => strings::split,
    "sprintf" ["val", "template"] => values::sprintf,
    "startsWith" ["s", "t"] => strings::starts_with,
    "substr" ["s", "start", "len"] => strings::substr,
    "tail" ["x"] => collections::tail,
    "trim" ["s"] => strings::trim,
    "trimLeading" ["s"] => strings::trim_leading,
    "trimTrailing" ["s"] => strings::trim_trailing,
    "typeof" ["x"] => values::typeof_,
    "uc" ["s"] => strings::uc,
    "union" ["a", "b"] => collections::union,
    "unique" ["a"] => collections::unique,
    "values" ["x", "path"] => collections::values,
}

// ---------------------------------------------------------------------------
// Helpers shared by the library files.

static NULL: Value = Value::Null;

/// Argument `i`, or null when it was not supplied.
fn arg(args: &[Value], i: usize) -> &Value {
    args.get(i).unwrap_or(&NULL)
}

/// `N(x)`, with NaN (which should not occur) counted as "no number".
fn num(v: &Value) -> Option<f64> {
    v.to_number().filter(|n| !n.is_nan())
}

/// Null, or a NaN number that slipped through.
fn is_null(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Number(n) => n.is_nan(),
        _ => false,
    }
}

/// A finite number ("Number" in the `+` and `sprintf` sense).
fn finite(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) if n.is_finite() => Some(*n),
        _ => None,
    }
}

fn is_function(v: &Value) -> bool {
    matches!(v, Value::Function(_))
}

fn str_value(s: impl Into<Arc<str>>) -> Value {
    Value::Str(s.into())
}

fn array(v: Vec<Value>) -> Value {
    Value::Array(Arc::new(v))
}

/// Compares strings by UTF-16 code units, as JavaScript's `<` does.
fn cmp_utf16(a: &str, b: &str) -> Ordering {
    // UTF-8 byte order is code point order, which agrees with UTF-16 order
    // unless a character at U+E000..U+FFFF meets one above U+FFFF.
    let ab = a.as_bytes();
    let bb = b.as_bytes();
    let common = ab.iter().zip(bb).take_while(|(x, y)| x == y).count();
    // Back up to the start of the character that differs.
    let mut i = common;
    while i > 0 && !(a.is_char_boundary(i) && b.is_char_boundary(i)) {
        i -= 1;
    }
    a[i..].encode_utf16().cmp(b[i..].encode_utf16())
}

/// `x` as a regex: a regex as it is, anything else `S(x)` compiled.
/// Strings compiled at run time (`s like "a.b"`, `s.match("x")`) are
/// kept in a small per-thread cache: building the linear engine costs
/// tens of microseconds, and such patterns are usually the same string
/// again and again (a loop).
fn to_regex(v: &Value) -> Result<Arc<Regex>, RuntimeError> {
    /// Patterns kept per thread; the cache empties when full.
    const CACHED: usize = 256;
    thread_local! {
        static CACHE: std::cell::RefCell<std::collections::HashMap<String, Arc<Regex>>> =
            std::cell::RefCell::new(std::collections::HashMap::new());
    }
    match v {
        Value::Regex(r) => Ok(r.clone()),
        other => {
            let source = other.to_krl_string();
            if let Some(r) = CACHE.with(|c| c.borrow().get(&source).cloned()) {
                return Ok(r);
            }
            let r = Arc::new(Regex::new(&source, "")?);
            CACHE.with(|c| {
                let mut c = c.borrow_mut();
                if c.len() >= CACHED {
                    c.clear();
                }
                c.insert(source, r.clone());
            });
            Ok(r)
        }
    }
}

/// The number of characters before byte offset `byte` of `s`.
fn char_offset(s: &str, byte: usize) -> usize {
    s[..byte].chars().count()
}

/// A stable merge sort with a fallible "a goes first" test (the reference
/// keeps the left element when the comparator is `<= 0`). Never panics on
/// inconsistent comparators.
fn merge_sort(
    items: Vec<Value>,
    first: &mut dyn FnMut(&Value, &Value) -> Result<bool, RuntimeError>,
) -> Result<Vec<Value>, RuntimeError> {
    let n = items.len();
    if n < 2 {
        return Ok(items);
    }
    let mut src = items;
    let mut dst = src.clone();
    let mut width = 1;
    while width < n {
        let mut lo = 0;
        while lo < n {
            let mid = (lo + width).min(n);
            let hi = (lo + 2 * width).min(n);
            let (mut l, mut r, mut w) = (lo, mid, lo);
            while l < mid && r < hi {
                if first(&src[l], &src[r])? {
                    dst[w] = src[l].clone();
                    l += 1;
                } else {
                    dst[w] = src[r].clone();
                    r += 1;
                }
                w += 1;
            }
            for x in src[l..mid].iter().chain(&src[r..hi]) {
                dst[w] = x.clone();
                w += 1;
            }
            lo = hi;
        }
        std::mem::swap(&mut src, &mut dst);
        width *= 2;
    }
    Ok(src)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        for w in FUNCTIONS.windows(2) {
            assert!(w[0].name < w[1].name, "{} before {}", w[0].name, w[1].name);
        }
        for b in FUNCTIONS {
            assert!(std::ptr::eq(function(b.name).unwrap(), b));
        }
        assert!(function("nope").is_none());
        assert!(function("").is_none());
    }

    #[test]
    fn parameter_names_follow_the_spec_signatures() {
        let params = |name| function(name).unwrap().params;
        assert_eq!(params("substr"), ["s", "start", "len"]);
        assert_eq!(params("reduce"), ["a", "f", "initial"]);
        assert_eq!(params("put"), ["x", "path", "value"]);
        assert_eq!(params("pick"), ["x", "path", "force_array"]);
        assert_eq!(params("append").len(), 6);
        assert!(params("noop").is_empty());
        for b in FUNCTIONS.iter().filter(|b| b.name != "noop") {
            assert!(!b.params.is_empty(), "{} has no receiver", b.name);
        }
    }

    #[test]
    fn utf16_order() {
        assert_eq!(cmp_utf16("a", "b"), Ordering::Less);
        assert_eq!(cmp_utf16("ab", "a"), Ordering::Greater);
        assert_eq!(cmp_utf16("é", "é"), Ordering::Equal);
        // U+FF61 is above the surrogates U+D83D... of an emoji in UTF-8
        // order but below them in UTF-16 order.
        assert_eq!(cmp_utf16("x\u{ff61}", "x😀"), Ordering::Greater);
        assert_eq!(cmp_utf16("é\u{ff61}", "é😀"), Ordering::Greater);
    }

    #[test]
    fn merge_sort_is_stable_and_tolerates_bad_comparators() {
        let items: Vec<Value> = (0..37).map(|i| Value::Number((i % 5) as f64)).collect();
        let sorted = merge_sort(items, &mut |a, b| {
            Ok(a.to_number().unwrap() <= b.to_number().unwrap())
        })
        .unwrap();
        let ns: Vec<f64> = sorted.iter().map(|v| v.to_number().unwrap()).collect();
        assert!(ns.windows(2).all(|w| w[0] <= w[1]));
        let mut flip = false;
        let chaos = merge_sort(
            (0..50).map(|i| Value::Number(i as f64)).collect(),
            &mut |_, _| {
                flip = !flip;
                Ok(flip)
            },
        )
        .unwrap();
        assert_eq!(chaos.len(), 50);
    }
}
