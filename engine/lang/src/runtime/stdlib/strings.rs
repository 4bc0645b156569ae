//! Strings (docs/spec/krl-stdlib.md 4). The receiver is converted with `S`, so these
//! never fail on other types. Positions and lengths count characters
//! (code points); regex offsets are converted accordingly.

use super::{arg, array, char_offset, num, str_value, to_regex};
use crate::runtime::error::RuntimeError;
use crate::runtime::pattern::{Budget, Match};
use crate::runtime::value::{searching, Context, Regex, Value};
use std::borrow::Cow;
use std::ops::Range;

type R = Result<Value, RuntimeError>;

/// `S(x)`, borrowing when `x` is already a string.
fn text(v: &Value) -> Cow<'_, str> {
    match v {
        Value::Str(s) => Cow::Borrowed(s),
        other => Cow::Owned(other.to_krl_string()),
    }
}

/// JavaScript's whitespace for `trim` (WhiteSpace and LineTerminator).
fn js_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202f}'
                | '\u{205f}'
                | '\u{3000}'
                | '\u{feff}'
    )
}

pub fn lc(_cx: &mut dyn Context, args: &[Value]) -> R {
    Ok(str_value(text(arg(args, 0)).to_lowercase()))
}

pub fn uc(_cx: &mut dyn Context, args: &[Value]) -> R {
    Ok(str_value(text(arg(args, 0)).to_uppercase()))
}

pub fn capitalize(_cx: &mut dyn Context, args: &[Value]) -> R {
    let s = text(arg(args, 0));
    let mut chars = s.chars();
    Ok(match chars.next() {
        None => Value::from(""),
        Some(first) => {
            let mut out: String = first.to_uppercase().collect();
            out.push_str(chars.as_str());
            str_value(out)
        }
    })
}

pub fn trim(_cx: &mut dyn Context, args: &[Value]) -> R {
    Ok(str_value(text(arg(args, 0)).trim_matches(js_space)))
}

pub fn trim_leading(_cx: &mut dyn Context, args: &[Value]) -> R {
    Ok(str_value(text(arg(args, 0)).trim_start_matches(js_space)))
}

pub fn trim_trailing(_cx: &mut dyn Context, args: &[Value]) -> R {
    Ok(str_value(text(arg(args, 0)).trim_end_matches(js_space)))
}

fn two_texts(args: &[Value], test: fn(&str, &str) -> bool) -> R {
    Ok(Value::Bool(test(&text(arg(args, 0)), &text(arg(args, 1)))))
}

pub fn starts_with(_cx: &mut dyn Context, args: &[Value]) -> R {
    two_texts(args, |s, t| s.starts_with(t))
}

pub fn ends_with(_cx: &mut dyn Context, args: &[Value]) -> R {
    two_texts(args, |s, t| s.ends_with(t))
}

pub fn contains(_cx: &mut dyn Context, args: &[Value]) -> R {
    two_texts(args, |s, t| s.contains(t))
}

pub fn ord(_cx: &mut dyn Context, args: &[Value]) -> R {
    Ok(match text(arg(args, 0)).chars().next() {
        Some(c) => Value::Number(c as u32 as f64),
        None => Value::Null,
    })
}

/// JavaScript's `substring` argument handling: integer part, clamped into
/// `0..=len` (NaN counts as 0).
fn clamp_position(x: f64, len: usize) -> usize {
    if x.is_nan() || x <= 0.0 {
        0
    } else if x >= len as f64 {
        len
    } else {
        x as usize
    }
}

/// Characters `a..b` of `s`.
fn char_slice(s: &str, a: usize, b: usize) -> &str {
    let mut indices = s.char_indices().map(|(i, _)| i).chain([s.len()]);
    let start = indices.nth(a).unwrap_or(s.len());
    let end = if b > a {
        indices.nth(b - a - 1).unwrap_or(s.len())
    } else {
        start
    };
    &s[start..end]
}

pub fn substr(_cx: &mut dyn Context, args: &[Value]) -> R {
    let s = text(arg(args, 0));
    // An omitted or null start or length converts to 0 (the reference
    // converts `undefined` like null); a length of 0 means "to the end".
    let Some(start) = num(arg(args, 1)) else {
        return Ok(str_value(s));
    };
    let n = s.chars().count();
    if start > n as f64 {
        return Ok(Value::from(""));
    }
    let end = match num(arg(args, 2)) {
        None => n as f64,
        Some(len) if len > 0.0 => start + len,
        Some(len) => n as f64 + len,
    };
    let (mut a, mut b) = (clamp_position(start, n), clamp_position(end, n));
    if a > b {
        std::mem::swap(&mut a, &mut b);
    }
    Ok(str_value(char_slice(&s, a, b)))
}

// ---------------------------------------------------------------------------
// Regex-based functions

/// A match: the whole range, the capture groups and the group names
/// (empty for a literal search or a regex without named groups).
type Found = Match;

fn group_value(s: &str, r: &Option<Range<usize>>) -> Value {
    match r {
        Some(r) => str_value(&s[r.clone()]),
        None => Value::Null,
    }
}

pub fn split(cx: &mut dyn Context, args: &[Value]) -> R {
    let s = text(arg(args, 0));
    let pieces = match arg(args, 1) {
        Value::Regex(re) => searching(cx, |b| split_regex(&s, re, b))?,
        sep => {
            let sep = text(sep);
            if sep.is_empty() {
                s.chars().map(|c| str_value(c.to_string())).collect()
            } else {
                s.split(&*sep).map(str_value).collect()
            }
        }
    };
    Ok(array(pieces))
}

/// JavaScript's `String.prototype.split` with a regex separator: empty
/// pieces kept, an empty match never splits at the previous split point,
/// capture groups included.
fn split_regex(s: &str, re: &Regex, budget: &mut Budget) -> Result<Vec<Value>, RuntimeError> {
    let mut out = Vec::new();
    if s.is_empty() {
        if !re.is_match(s, budget)? {
            out.push(Value::from(""));
        }
        return Ok(out);
    }
    let (mut p, mut q) = (0, 0);
    while q < s.len() {
        let Some(m) = re.find_at(s, q, budget)? else {
            break;
        };
        if m.range.start >= s.len() {
            break;
        }
        if m.range.end == p {
            // An empty match where the last piece ended: move on one
            // character.
            q = m.range.start + s[m.range.start..].chars().next().map_or(1, char::len_utf8);
            continue;
        }
        out.push(str_value(&s[p..m.range.start]));
        out.extend(m.groups.iter().map(|g| group_value(s, g)));
        p = m.range.end;
        q = p;
    }
    out.push(str_value(&s[p..]));
    Ok(out)
}

pub fn replace(cx: &mut dyn Context, args: &[Value]) -> R {
    if args.len() < 2 {
        return Ok(arg(args, 0).clone());
    }
    let s = text(arg(args, 0));
    let found: Vec<Found> = match arg(args, 1) {
        Value::Regex(re) if re.global() => searching(cx, |b| re.find_all(&s, b))?,
        Value::Regex(re) => searching(cx, |b| re.find_at(&s, 0, b))?
            .into_iter()
            .collect(),
        pattern => {
            let needle = text(pattern);
            s.find(&*needle)
                .map(|at| Found {
                    range: at..at + needle.len(),
                    groups: vec![],
                    names: vec![],
                })
                .into_iter()
                .collect()
        }
    };
    if found.is_empty() {
        return Ok(str_value(s));
    }
    let replacement = arg(args, 2);
    let template = match replacement {
        Value::Null | Value::Function(_) => None,
        other => Some(text(other)),
    };
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    for m in &found {
        out.push_str(&s[last..m.range.start]);
        match (&template, replacement) {
            (Some(t), _) => substitute(&mut out, t, &s, m),
            (None, Value::Function(_)) => {
                let mut call_args = Vec::with_capacity(m.groups.len() + 3);
                call_args.push(str_value(&s[m.range.clone()]));
                call_args.extend(m.groups.iter().map(|g| group_value(&s, g)));
                call_args.push(Value::Number(char_offset(&s, m.range.start) as f64));
                call_args.push(str_value(&*s));
                let r = cx.call(replacement, call_args)?;
                out.push_str(&text(&r));
            }
            (None, _) => {}
        }
        last = m.range.end;
    }
    out.push_str(&s[last..]);
    Ok(str_value(out))
}

/// JavaScript's replacement patterns: `$$`, `$&`, `` $` ``, `$'`, `$1`..`$99`
/// and `$<name>` (when the regex has named groups). Anything else is
/// literal; a group that did not participate inserts nothing.
fn substitute(out: &mut String, template: &str, s: &str, m: &Found) {
    let bytes = template.as_bytes();
    let mut i = 0;
    let mut literal_from = 0;
    let group = |n: usize| m.groups.get(n - 1).cloned().flatten();
    while i < bytes.len() {
        if bytes[i] != b'$' || i + 1 >= bytes.len() {
            i += 1;
            continue;
        }
        let next = bytes[i + 1];
        let digit = |k: usize| {
            bytes
                .get(k)
                .filter(|b| b.is_ascii_digit())
                .map(|b| (b - b'0') as usize)
        };
        let (insert, used): (Option<&str>, usize) = match next {
            b'$' => (Some("$"), 2),
            b'&' => (Some(&s[m.range.clone()]), 2),
            b'`' => (Some(&s[..m.range.start]), 2),
            b'\'' => (Some(&s[m.range.end..]), 2),
            b'0'..=b'9' => {
                let d1 = (next - b'0') as usize;
                let count = m.groups.len();
                match digit(i + 2).map(|d2| d1 * 10 + d2) {
                    Some(nn) if (1..=count).contains(&nn) => {
                        (Some(group(nn).map_or("", |r| &s[r])), 3)
                    }
                    _ if (1..=count).contains(&d1) => (Some(group(d1).map_or("", |r| &s[r])), 2),
                    _ => (None, 0),
                }
            }
            b'<' if !m.names.is_empty() => match template[i + 2..].find('>') {
                Some(close) => {
                    let name = &template[i + 2..i + 2 + close];
                    let value = m
                        .names
                        .iter()
                        .find(|(n, _)| n == name)
                        .and_then(|(_, r)| r.clone())
                        .map_or("", |r| &s[r]);
                    (Some(value), close + 3)
                }
                None => (None, 0),
            },
            _ => (None, 0),
        };
        match insert {
            Some(text) => {
                out.push_str(&template[literal_from..i]);
                out.push_str(text);
                i += used;
                literal_from = i;
            }
            None => i += 1,
        }
    }
    out.push_str(&template[literal_from..]);
}

pub fn match_(cx: &mut dyn Context, args: &[Value]) -> R {
    let re = match arg(args, 1) {
        Value::Regex(re) => re.clone(),
        v @ Value::Str(_) => to_regex(v)?,
        _ => return Ok(Value::Bool(false)),
    };
    let s = text(arg(args, 0));
    Ok(Value::Bool(searching(cx, |b| re.is_match(&s, b))?))
}

pub fn extract(cx: &mut dyn Context, args: &[Value]) -> R {
    if args.len() < 2 {
        return Ok(array(vec![]));
    }
    let s = text(arg(args, 0));
    let re = to_regex(arg(args, 1))?;
    let out = if re.global() {
        searching(cx, |b| re.find_all(&s, b))?
            .into_iter()
            .map(|m| str_value(&s[m.range]))
            .collect()
    } else {
        match searching(cx, |b| re.find_at(&s, 0, b))? {
            Some(m) => m.groups.iter().map(|g| group_value(&s, g)).collect(),
            None => vec![],
        }
    };
    Ok(array(out))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{a, func, re, try_func};
    use super::*;
    use serde_json::json;

    #[test]
    fn case() {
        check!("lc"("Hello World") => "hello world");
        check!("uc"("Hello World") => "HELLO WORLD");
        check!("uc"(()) => "NULL");
        check!("lc"(json!([1])) => "[array]");
        check!("uc"("straße") => "STRASSE");
        check!("capitalize"("hello world") => "Hello world");
        check!("capitalize"(" l") => " l");
        check!("capitalize"("") => "");
        check!("capitalize"("élan") => "Élan");
        check!("capitalize"(true) => "True");
    }

    #[test]
    fn trimming() {
        check!("trim"(" \n hi \t") => "hi");
        check!("trimLeading"(" \n hi \t") => "hi \t");
        check!("trimTrailing"(" \n hi \t") => " \n hi");
        check!("trim"("\u{a0}\u{feff}x\u{3000}") => "x");
        check!("trim"(5) => "5");
        check!("trim"("") => "");
    }

    #[test]
    fn substring_tests() {
        check!("startsWith"("abcd", "ab") => true);
        check!("startsWith"("abcd", "bc") => false);
        check!("endsWith"("abcd", "cd") => true);
        check!("endsWith"(1234, 34) => true);
        check!("contains"("abcd", "dc") => false);
        check!("contains"("abcd", "bc") => true);
        check!("contains"((), "ul") => true);
        check!("startsWith"("abc", "") => true);
    }

    #[test]
    fn ord_examples() {
        check!("ord"("Hello") => 72);
        check!("ord"("") => ());
        check!("ord"("😀!") => 128512);
        check!("ord"(5) => 53);
    }

    #[test]
    fn substr_examples() {
        let s = "This is a string";
        check!("substr"(s, 5) => "is a string");
        check!("substr"(s, 5, 4) => "is a");
        check!("substr"(s, 5, -5) => "is a s");
        check!("substr"(s, 25) => "");
        check!("substr"(s, 5, -15) => "his ");
        check!("substr"("hello", -2) => "hello");
        check!("substr"("hello", 1, 3) => "ell");
        check!("substr"("hello", "x") => "hello");
        check!("substr"("hello") => "hello");
        check!("substr"("hello", 1, 0) => "ello");
        check!("substr"("hello", 1, ()) => "ello");
        check!("substr"("hello", 1, "z") => "ello");
        check!("substr"("hello", 5) => "");
        check!("substr"("hello", 1.7, 2) => "el");
        check!("substr"("hello", 2, 100) => "llo");
        check!("substr"("h😀llo", 1, 2) => "😀l");
        check!("substr"(12345, 1, 2) => "23");
    }

    #[test]
    fn split_examples() {
        check!("split"("a;b;c", re(";", "")) => json!(["a", "b", "c"]));
        check!("split"("a;b;3;4;", ";") => json!(["a", "b", "3", "4", ""]));
        check!("split"("ab", "") => json!(["a", "b"]));
        check!("split"("a1b", re("(\\d)", "")) => json!(["a", "1", "b"]));
        check!("split"((), ",") => json!(["null"]));
        check!("split"("", ",") => json!([""]));
        check!("split"("", "") => json!([]));
        check!("split"("a😀b", "") => json!(["a", "😀", "b"]));
        check!("split"("a1b2", 1) => json!(["a", "b2"]));
        check!("split"("a,b", ()) => json!(["a,b"]));
    }

    #[test]
    fn split_on_regex_like_javascript() {
        check!("split"("ab", re("", "")) => json!(["a", "b"]));
        check!("split"("", re("", "")) => json!([]));
        check!("split"("", re("x", "")) => json!([""]));
        check!("split"("a, b ,c", re("\\s*,\\s*", "")) => json!(["a", "b", "c"]));
        check!("split"("abc", re("x*", "")) => json!(["a", "b", "c"]));
        check!("split"(",a,", re(",", "")) => json!(["", "a", ""]));
        check!("split"("a-b", re("(-)|(\\+)", "")) => json!(["a", "-", null, "b"]));
        check!("split"("AxBxc", re("x", "i")) => json!(["A", "B", "c"]));
    }

    #[test]
    fn replace_examples() {
        check!("replace"("Hello William!", re("will", "i"), "Bill") => "Hello Billiam!");
        check!("replace"("William W.", re("W", "g"), "B") => "Billiam B.");
        check!("replace"("a.b.c", ".", "-") => "a-b.c");
        check!("replace"("abc", re("(b)", ""), "[$1]") => "a[b]c");
        check!("replace"("Sa5m", 5, true) => "Satruem");
        let double = try_func(|args| {
            let n = crate::runtime::stdlib::ops::mul(&a(args, 0), &v(2))?;
            Ok(v(n.to_krl_string()))
        });
        check!("replace"("1 2 3", re("(\\d)", "g"), double) => "2 4 6");
    }

    #[test]
    fn replace_argument_rules() {
        check!("replace"(5) => 5);
        check!("replace"(json!([1]), "x") => "[Array]");
        check!("replace"("aXbX", "X") => "abX");
        check!("replace"("aXbX", "X", ()) => "abX");
        check!("replace"("aXbX", re("x", "gi")) => "ab");
        check!("replace"("abc", "z", "y") => "abc");
        check!("replace"("abc", "", "-") => "-abc");
        check!("replace"(1234, 23, 0) => "104");
        check!("replace"("a.b", ".", "$&$&") => "a..b");
        check!("replace"("a.b", ".", "$1") => "a$1b");
    }

    #[test]
    fn replace_substitutions() {
        let r = re("(\\d)(\\d)?", "");
        check!("replace"("x12y", r.clone(), "<$2$1>") => "x<21>y");
        check!("replace"("x12y", r.clone(), "[$`|$'|$$|$&]") => "x[x|y|$|12]y");
        check!("replace"("x1y", r.clone(), "<$2>") => "x<>y");
        check!("replace"("x12y", r.clone(), "$3$0$") => "x$3$0$y");
        check!("replace"("x12y", r.clone(), "$01$10") => "x110y");
        check!("replace"("x12y", re("(?<a>1)", ""), "[$<a>$<b>]") => "x[1]2y");
        check!("replace"("x12y", r, "$<a>") => "x$<a>y");
        let many = re("(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)", "");
        check!("replace"("abcdefghijk", many, "$11-$10-$1") => "k-j-a");
    }

    #[test]
    fn replace_with_a_function() {
        let show = func(|args| {
            v(args
                .iter()
                .map(|x| x.to_krl_string())
                .collect::<Vec<_>>()
                .join(","))
        });
        check!("replace"("aXbY", re("([A-Z])", "g"), show.clone()) => "aX,X,1,aXbYbY,Y,3,aXbY");
        check!("replace"("😀X", "X", show.clone()) => "😀X,1,😀X");
        check!("replace"("ab", re("(x)?b", ""), show) => "ab,null,1,ab");
        let fails = try_func(|_| Err(RuntimeError::new("boom")));
        assert_eq!(
            run("replace", vec![v("a"), v("a"), fails])
                .unwrap_err()
                .message,
            "boom"
        );
    }

    #[test]
    fn replace_global_empty_matches() {
        check!("replace"("abc", re("", "g"), "-") => "-a-b-c-");
        check!("replace"("aaa", re("a*", "g"), "X") => "XX");
    }

    #[test]
    fn match_examples() {
        check!("match"("Something", re("^S.*g$", "")) => true);
        check!("match"(0, re("0", "")) => true);
        check!("match"((), re("null", "")) => true);
        check!("match"("1", 1) => false);
        check!("match"("abc", "b.") => true);
        check!("match"("abc", "^b") => false);
        check!("match"("abc") => false);
        assert!(run("match", vec![v("a"), v("[")]).is_err());
    }

    #[test]
    fn extract_examples() {
        check!("extract"("This is a string", re("(s.+).*(.ing)", "")) => json!(["s is a st", "ring"]));
        check!("extract"("I like cheese", re("like (\\w+)", "")) => json!(["cheese"]));
        check!("extract"("a1b22c333", re("\\d+", "g")) => json!(["1", "22", "333"]));
        check!("extract"("abc", "b") => json!([]));
        check!("extract"("abc", "(b)") => json!(["b"]));
        check!("extract"("abc") => json!([]));
        check!("extract"("abc", re("x", "")) => json!([]));
        check!("extract"("abc", re("x", "g")) => json!([]));
        check!("extract"("ab", re("(x)?b", "")) => json!([null]));
    }

    use super::super::testing::{run, v};
}
