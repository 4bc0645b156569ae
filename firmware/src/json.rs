//! A minimal JSON reader and writer for `no_std` without a heap.
//!
//! The reader never copies: it walks a `&str` and hands out [`RawStr`]
//! (the text between a string's quotes, escapes still in it) and
//! [`Value`] spans. A caller decodes only the strings it wants, into a
//! bounded buffer of its own, and finds out exactly which one did not fit.
//! Nesting is bounded by [`MAX_DEPTH`], so the recursion that skips nested
//! values has a fixed worst-case stack.
//!
//! Why not `serde-json-core`: the device needs answers it does not give in
//! one place — which field overflowed (the body, a number), duplicate keys
//! refused (`{"Type":"Incoming","Type":"Outgoing"}` must not be read one
//! way here and the other way by the bridge rule), `\uD83D\uDE00`
//! surrogate pairs decoded (Python's `json.dumps` writes emoji that way),
//! trailing NUL bytes tolerated (the reference C++ firmware publishes
//! `strlen + 1` bytes), and a second pass that looks only at `Type` before
//! anything is decoded. The whole thing is a few hundred lines with no
//! dependency, and every path returns a [`JsonError`] instead of panicking.

use heapless::String;

/// How deep objects and arrays may nest before [`JsonError::TooDeep`].
pub const MAX_DEPTH: usize = 16;

/// Why a payload is not JSON this reader accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonError {
    /// The input ended inside a value.
    UnexpectedEnd,
    /// A byte that cannot start or continue the value here, at this offset.
    Unexpected(usize),
    /// An invalid escape sequence (or a lone surrogate) at this offset.
    BadEscape(usize),
    /// A raw control character (below U+0020) inside a string, at this offset.
    ControlInString(usize),
    /// Objects and arrays nest deeper than [`MAX_DEPTH`].
    TooDeep,
    /// Something other than whitespace or NUL bytes after the value.
    TrailingCharacters(usize),
    /// The top-level value is not an object.
    NotAnObject,
}

/// The writer's only error: the output buffer is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow;

/// A JSON string as it appears between its quotes, escapes not yet decoded.
/// It has been validated: [`RawStr::chars`] cannot fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawStr<'a> {
    raw: &'a str,
}

impl<'a> RawStr<'a> {
    /// The raw text between the quotes.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// The decoded characters.
    pub fn chars(&self) -> Chars<'a> {
        Chars {
            rest: self.raw.chars(),
        }
    }

    /// Whether the decoded string equals `s`.
    pub fn eq_str(&self, s: &str) -> bool {
        self.chars().eq(s.chars())
    }

    /// Whether the decoded string equals `s`, ignoring ASCII case.
    pub fn eq_ignore_ascii_case(&self, s: &str) -> bool {
        let mut mine = self.chars();
        let mut theirs = s.chars();
        loop {
            match (mine.next(), theirs.next()) {
                (None, None) => return true,
                (Some(a), Some(b)) if a.eq_ignore_ascii_case(&b) => {}
                _ => return false,
            }
        }
    }

    /// Decode into `out` (appending). On overflow `out` holds a prefix.
    pub fn decode_into<const N: usize>(&self, out: &mut String<N>) -> Result<(), Overflow> {
        for c in self.chars() {
            out.push(c).map_err(|_| Overflow)?;
        }
        Ok(())
    }
}

/// The decoded characters of a [`RawStr`].
#[derive(Debug, Clone)]
pub struct Chars<'a> {
    rest: core::str::Chars<'a>,
}

impl Iterator for Chars<'_> {
    type Item = char;

    fn next(&mut self) -> Option<char> {
        let c = self.rest.next()?;
        if c != '\\' {
            return Some(c);
        }
        // Validated when the string was scanned, so every branch here is
        // well-formed; U+FFFD keeps this total all the same.
        Some(match self.rest.next()? {
            '"' => '"',
            '\\' => '\\',
            '/' => '/',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'u' => {
                let hi = hex4(&mut self.rest).unwrap_or(0xFFFD);
                if (0xD800..0xDC00).contains(&hi) {
                    // A high surrogate; validation guaranteed `\uDC00..`.
                    self.rest.next();
                    self.rest.next();
                    let lo = hex4(&mut self.rest).unwrap_or(0xDC00);
                    let code = 0x10000 + ((hi - 0xD800) << 10) + (lo.wrapping_sub(0xDC00) & 0x3FF);
                    char::from_u32(code).unwrap_or('\u{FFFD}')
                } else {
                    char::from_u32(hi).unwrap_or('\u{FFFD}')
                }
            }
            _ => '\u{FFFD}',
        })
    }
}

fn hex4(it: &mut core::str::Chars<'_>) -> Option<u32> {
    let mut v = 0u32;
    for _ in 0..4 {
        v = v * 16 + it.next()?.to_digit(16)?;
    }
    Some(v)
}

/// A value found while walking an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    String(RawStr<'a>),
    /// The number's text, as written (validated JSON number syntax).
    Number(&'a str),
    Bool(bool),
    Null,
    /// The whole object, braces included; walk it with [`members`].
    Object(&'a str),
    /// The whole array, brackets included.
    Array(&'a str),
}

impl<'a> Value<'a> {
    /// A non-negative integer that fits in a `u64` (no sign, fraction or
    /// exponent), else `None`.
    pub fn as_u64(&self) -> Option<u64> {
        let Value::Number(text) = self else {
            return None;
        };
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut v: u64 = 0;
        for b in text.bytes() {
            v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        }
        Some(v)
    }

    pub fn as_str(&self) -> Option<RawStr<'a>> {
        match self {
            Value::String(s) => Some(*s),
            _ => None,
        }
    }
}

/// Check that `text` is one JSON object (whitespace and NUL bytes may
/// follow it) and return the object's text, braces included.
pub fn top_object(text: &str) -> Result<&str, JsonError> {
    let mut p = Parser::new(text);
    p.skip_ws();
    if p.peek() != Some(b'{') {
        return match p.peek() {
            None => Err(JsonError::UnexpectedEnd),
            Some(_) => Err(JsonError::NotAnObject),
        };
    }
    let start = p.pos;
    p.skip_value(0)?;
    let end = p.pos;
    while let Some(b) = p.peek() {
        if matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0) {
            p.pos += 1;
        } else {
            return Err(JsonError::TrailingCharacters(p.pos));
        }
    }
    Ok(&text[start..end])
}

/// The members of an object (`object` is its text, braces included, as
/// returned by [`top_object`] or [`Value::Object`]), in order. The walk
/// stops at the first error, which it yields.
pub fn members(object: &str) -> Members<'_> {
    Members {
        p: Parser::new(object),
        state: MembersState::Start,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MembersState {
    Start,
    Next,
    Done,
}

/// Iterator over `(key, value)` pairs; see [`members`].
#[derive(Debug, Clone)]
pub struct Members<'a> {
    p: Parser<'a>,
    state: MembersState,
}

impl<'a> Iterator for Members<'a> {
    type Item = Result<(RawStr<'a>, Value<'a>), JsonError>;

    fn next(&mut self) -> Option<Self::Item> {
        let r = self.step();
        match r {
            Ok(Some(kv)) => Some(Ok(kv)),
            Ok(None) => {
                self.state = MembersState::Done;
                None
            }
            Err(e) => {
                self.state = MembersState::Done;
                Some(Err(e))
            }
        }
    }
}

impl<'a> Members<'a> {
    fn step(&mut self) -> Result<Option<(RawStr<'a>, Value<'a>)>, JsonError> {
        let p = &mut self.p;
        match self.state {
            MembersState::Done => return Ok(None),
            MembersState::Start => {
                p.skip_ws();
                p.expect(b'{')?;
                p.skip_ws();
                if p.peek() == Some(b'}') {
                    p.pos += 1;
                    return Ok(None);
                }
                self.state = MembersState::Next;
            }
            MembersState::Next => {
                p.skip_ws();
                match p.bump()? {
                    b',' => p.skip_ws(),
                    b'}' => return Ok(None),
                    _ => return Err(JsonError::Unexpected(p.pos - 1)),
                }
            }
        }
        let key = p.string()?;
        p.skip_ws();
        p.expect(b':')?;
        p.skip_ws();
        let value = p.value()?;
        Ok(Some((key, value)))
    }
}

#[derive(Debug, Clone)]
struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Parser { text, pos: 0 }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }

    fn bump(&mut self) -> Result<u8, JsonError> {
        let b = self.peek().ok_or(JsonError::UnexpectedEnd)?;
        self.pos += 1;
        Ok(b)
    }

    fn expect(&mut self, want: u8) -> Result<(), JsonError> {
        let at = self.pos;
        if self.bump()? == want {
            Ok(())
        } else {
            Err(JsonError::Unexpected(at))
        }
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// A value at `pos` (whitespace already skipped); nested values are
    /// skipped and returned as spans.
    fn value(&mut self) -> Result<Value<'a>, JsonError> {
        let start = self.pos;
        match self.peek().ok_or(JsonError::UnexpectedEnd)? {
            b'"' => Ok(Value::String(self.string()?)),
            b'{' => {
                self.skip_value(1)?;
                Ok(Value::Object(&self.text[start..self.pos]))
            }
            b'[' => {
                self.skip_value(1)?;
                Ok(Value::Array(&self.text[start..self.pos]))
            }
            b't' => self.literal("true").map(|_| Value::Bool(true)),
            b'f' => self.literal("false").map(|_| Value::Bool(false)),
            b'n' => self.literal("null").map(|_| Value::Null),
            b'-' | b'0'..=b'9' => {
                self.number()?;
                Ok(Value::Number(&self.text[start..self.pos]))
            }
            _ => Err(JsonError::Unexpected(start)),
        }
    }

    fn literal(&mut self, word: &str) -> Result<(), JsonError> {
        let end = self.pos + word.len();
        match self.bytes().get(self.pos..end) {
            Some(b) if b == word.as_bytes() => {
                self.pos = end;
                Ok(())
            }
            Some(_) => Err(JsonError::Unexpected(self.pos)),
            None => Err(JsonError::UnexpectedEnd),
        }
    }

    fn digits(&mut self) -> Result<(), JsonError> {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        if self.pos == start {
            return match self.peek() {
                None => Err(JsonError::UnexpectedEnd),
                Some(_) => Err(JsonError::Unexpected(self.pos)),
            };
        }
        Ok(())
    }

    fn number(&mut self) -> Result<(), JsonError> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        if self.peek() == Some(b'0') {
            self.pos += 1;
        } else {
            self.digits()?;
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            self.digits()?;
        }
        Ok(())
    }

    /// A string at `pos` (its opening quote); validates escapes.
    fn string(&mut self) -> Result<RawStr<'a>, JsonError> {
        self.expect(b'"')?;
        let start = self.pos;
        loop {
            let at = self.pos;
            match self.bump()? {
                b'"' => {
                    return Ok(RawStr {
                        raw: &self.text[start..at],
                    })
                }
                b'\\' => match self.bump()? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                    b'u' => {
                        let hi = self.hex4(at)?;
                        if (0xD800..0xDC00).contains(&hi) {
                            // Must be followed by a low surrogate escape.
                            if self.bump()? != b'\\' || self.bump()? != b'u' {
                                return Err(JsonError::BadEscape(at));
                            }
                            let lo = self.hex4(at)?;
                            if !(0xDC00..0xE000).contains(&lo) {
                                return Err(JsonError::BadEscape(at));
                            }
                        } else if (0xDC00..0xE000).contains(&hi) {
                            return Err(JsonError::BadEscape(at));
                        }
                    }
                    _ => return Err(JsonError::BadEscape(at)),
                },
                b if b < 0x20 => return Err(JsonError::ControlInString(at)),
                _ => {}
            }
        }
    }

    fn hex4(&mut self, at: usize) -> Result<u32, JsonError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = (self.bump()? as char)
                .to_digit(16)
                .ok_or(JsonError::BadEscape(at))?;
            v = v * 16 + d;
        }
        Ok(v)
    }

    /// Skip the value at `pos`. `depth` counts the containers around it.
    fn skip_value(&mut self, depth: usize) -> Result<(), JsonError> {
        match self.peek().ok_or(JsonError::UnexpectedEnd)? {
            open @ (b'{' | b'[') => {
                if depth >= MAX_DEPTH {
                    return Err(JsonError::TooDeep);
                }
                let close = if open == b'{' { b'}' } else { b']' };
                self.pos += 1;
                self.skip_ws();
                if self.peek() == Some(close) {
                    self.pos += 1;
                    return Ok(());
                }
                loop {
                    self.skip_ws();
                    if open == b'{' {
                        self.string()?;
                        self.skip_ws();
                        self.expect(b':')?;
                        self.skip_ws();
                    }
                    self.skip_value(depth + 1)?;
                    self.skip_ws();
                    let at = self.pos;
                    match self.bump()? {
                        b',' => {}
                        b if b == close => return Ok(()),
                        _ => return Err(JsonError::Unexpected(at)),
                    }
                }
            }
            _ => self.value().map(|_| ()),
        }
    }
}

/// Append `s` to `out` as a JSON string, quotes included: `"` and `\`
/// escaped, control characters as `\n`-style or `\u00XX` escapes, the rest
/// (all non-ASCII included) as UTF-8. On overflow `out` holds a prefix.
pub fn write_str<const N: usize>(out: &mut String<N>, s: &str) -> Result<(), Overflow> {
    push(out, "\"")?;
    for c in s.chars() {
        match c {
            '"' => push(out, "\\\"")?,
            '\\' => push(out, "\\\\")?,
            '\n' => push(out, "\\n")?,
            '\r' => push(out, "\\r")?,
            '\t' => push(out, "\\t")?,
            '\u{8}' => push(out, "\\b")?,
            '\u{c}' => push(out, "\\f")?,
            c if (c as u32) < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let n = c as u32 as usize;
                push(out, "\\u00")?;
                out.push(HEX[n >> 4] as char).map_err(|_| Overflow)?;
                out.push(HEX[n & 0xF] as char).map_err(|_| Overflow)?;
            }
            c => out.push(c).map_err(|_| Overflow)?,
        }
    }
    push(out, "\"")
}

/// The most bytes [`write_str`] writes for a string of `chars` characters
/// (a control character costs six), quotes included.
pub const fn escaped_max(chars: usize) -> usize {
    chars * 6 + 2
}

/// Append raw text (already JSON) to `out`.
pub fn push<const N: usize>(out: &mut String<N>, s: &str) -> Result<(), Overflow> {
    out.push_str(s).map_err(|_| Overflow)
}

/// Append a `u64` in decimal.
pub fn write_u64<const N: usize>(out: &mut String<N>, mut v: u64) -> Result<(), Overflow> {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    let text = core::str::from_utf8(&digits[i..]).map_err(|_| Overflow)?;
    push(out, text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn decoded(raw: &RawStr<'_>) -> std::string::String {
        raw.chars().collect()
    }

    fn pairs(obj: &str) -> Result<Vec<(std::string::String, Value<'_>)>, JsonError> {
        members(obj)
            .map(|r| r.map(|(k, v)| (decoded(&k), v)))
            .collect()
    }

    #[test]
    fn walks_members_in_order_with_nested_values_as_spans() {
        let text = r#" {"a": 1, "b" : [1, {"x": [true]}], "c": {"d": null}, "e": "f", "g": -1.5e3, "h": false} "#;
        let obj = top_object(text).unwrap();
        let got = pairs(obj).unwrap();
        let keys: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a", "b", "c", "e", "g", "h"]);
        assert_eq!(got[0].1, Value::Number("1"));
        assert_eq!(got[1].1, Value::Array(r#"[1, {"x": [true]}]"#));
        assert_eq!(got[2].1, Value::Object(r#"{"d": null}"#));
        assert_eq!(got[4].1, Value::Number("-1.5e3"));
        assert_eq!(got[5].1, Value::Bool(false));
        let inner = pairs(r#"{"d": null}"#).unwrap();
        assert_eq!(inner[0].1, Value::Null);
    }

    #[test]
    fn empty_object_has_no_members() {
        assert_eq!(pairs(top_object("{}").unwrap()).unwrap().len(), 0);
        assert_eq!(pairs(top_object(" { } ").unwrap()).unwrap().len(), 0);
    }

    #[test]
    fn decodes_escapes_and_surrogate_pairs() {
        let obj = top_object(r#"{"s":"a\"b\\c\/d\n\t\u00e9\uD83D\uDE00\u4e16"}"#).unwrap();
        let (_, v) = members(obj).next().unwrap().unwrap();
        let s = v.as_str().unwrap();
        assert_eq!(decoded(&s), "a\"b\\c/d\n\té😀世");
        assert!(s.eq_str("a\"b\\c/d\n\té😀世"));
        let mut out: String<64> = String::new();
        s.decode_into(&mut out).unwrap();
        assert_eq!(out.as_str(), "a\"b\\c/d\n\té😀世");
        let mut small: String<3> = String::new();
        assert_eq!(s.decode_into(&mut small), Err(Overflow));
    }

    #[test]
    fn rejects_bad_strings() {
        for (text, want) in [
            (r#"{"s":"\x"}"#, JsonError::BadEscape(6)),
            (r#"{"s":"\uD83D"}"#, JsonError::BadEscape(6)),
            (r#"{"s":"\uDE00"}"#, JsonError::BadEscape(6)),
            (r#"{"s":"\uD83D\u0041"}"#, JsonError::BadEscape(6)),
            (r#"{"s":"\u12G4"}"#, JsonError::BadEscape(6)),
            ("{\"s\":\"a\nb\"}", JsonError::ControlInString(7)),
            (r#"{"s":"abc"#, JsonError::UnexpectedEnd),
        ] {
            assert_eq!(top_object(text), Err(want), "{text}");
        }
    }

    #[test]
    fn rejects_bad_structure() {
        assert_eq!(top_object(""), Err(JsonError::UnexpectedEnd));
        assert_eq!(top_object("  "), Err(JsonError::UnexpectedEnd));
        assert_eq!(top_object("[1]"), Err(JsonError::NotAnObject));
        assert_eq!(top_object("\"x\""), Err(JsonError::NotAnObject));
        assert_eq!(top_object("{"), Err(JsonError::UnexpectedEnd));
        assert_eq!(top_object(r#"{"a":1,}"#), Err(JsonError::Unexpected(7)));
        assert_eq!(top_object(r#"{"a" 1}"#), Err(JsonError::Unexpected(5)));
        assert_eq!(top_object(r#"{"a":01}"#), Err(JsonError::Unexpected(6)));
        assert_eq!(top_object(r#"{"a":1.}"#), Err(JsonError::Unexpected(7)));
        assert_eq!(top_object(r#"{"a":tru}"#), Err(JsonError::Unexpected(5)));
        assert_eq!(top_object(r#"{a:1}"#), Err(JsonError::Unexpected(1)));
        assert_eq!(
            top_object(r#"{"a":1} x"#),
            Err(JsonError::TrailingCharacters(8))
        );
        assert_eq!(
            top_object(r#"{"a":1}{}"#),
            Err(JsonError::TrailingCharacters(7))
        );
    }

    #[test]
    fn trailing_whitespace_and_nul_bytes_are_fine() {
        assert_eq!(top_object("{\"a\":1}\0"), Ok("{\"a\":1}"));
        assert_eq!(top_object("{\"a\":1}\r\n\0\0"), Ok("{\"a\":1}"));
    }

    #[test]
    fn nesting_is_bounded() {
        let mut ok = std::string::String::from("{\"a\":");
        for _ in 0..MAX_DEPTH - 1 {
            ok.push('[');
        }
        for _ in 0..MAX_DEPTH - 1 {
            ok.push(']');
        }
        ok.push('}');
        assert!(top_object(&ok).is_ok());
        let mut deep = std::string::String::from("{\"a\":");
        for _ in 0..MAX_DEPTH {
            deep.push('[');
        }
        for _ in 0..MAX_DEPTH {
            deep.push(']');
        }
        deep.push('}');
        assert_eq!(top_object(&deep), Err(JsonError::TooDeep));
        // Very deep input fails fast instead of recursing.
        let evil = "[".repeat(100_000);
        let evil = std::format!("{{\"a\":{evil}");
        assert_eq!(top_object(&evil), Err(JsonError::TooDeep));
    }

    #[test]
    fn numbers_as_u64() {
        assert_eq!(Value::Number("0").as_u64(), Some(0));
        assert_eq!(Value::Number("60000").as_u64(), Some(60000));
        assert_eq!(
            Value::Number("18446744073709551615").as_u64(),
            Some(u64::MAX)
        );
        assert_eq!(Value::Number("18446744073709551616").as_u64(), None);
        assert_eq!(Value::Number("-1").as_u64(), None);
        assert_eq!(Value::Number("1.0").as_u64(), None);
        assert_eq!(Value::Number("1e3").as_u64(), None);
        assert_eq!(Value::Bool(true).as_u64(), None);
    }

    #[test]
    fn writes_escaped_strings() {
        let mut out: String<128> = String::new();
        write_str(&mut out, "a\"b\\c\n\r\t\u{8}\u{c}\u{1}\u{1f}é😀/").unwrap();
        assert_eq!(out.as_str(), r#""a\"b\\c\n\r\t\b\f\u0001\u001fé😀/""#);
        let mut small: String<4> = String::new();
        assert_eq!(write_str(&mut small, "abcd"), Err(Overflow));
        let mut n: String<20> = String::new();
        write_u64(&mut n, u64::MAX).unwrap();
        assert_eq!(n.as_str(), "18446744073709551615");
        n.clear();
        write_u64(&mut n, 0).unwrap();
        assert_eq!(n.as_str(), "0");
    }

    #[test]
    fn ascii_case_insensitive_compare() {
        let obj = top_object(r#"{"t":"OutGoing"}"#).unwrap();
        let (_, v) = members(obj).next().unwrap().unwrap();
        let s = v.as_str().unwrap();
        assert!(s.eq_ignore_ascii_case("outgoing"));
        assert!(!s.eq_ignore_ascii_case("outgoin"));
        assert!(!s.eq_ignore_ascii_case("outgoingg"));
        assert!(!s.eq_str("outgoing"));
    }
}
