//! A JavaScript regular expression (non-Unicode mode with the web
//! compatibility grammar of ECMA-262 Annex B, flags `i` and `m`) read into
//! a tree that both engines run: [`super::linear`] hands it to the
//! `regex-automata` crate, [`super::backtrack`] interprets it. Character
//! sets are resolved here, once, with JavaScript's meaning: `\d`, `\w` and
//! `\s` are JavaScript's sets, `.` leaves out the four line terminators,
//! and under `i` every set is closed under JavaScript's case
//! canonicalisation (not Unicode's simple case folding: `k` does not match
//! the Kelvin sign, `s` does not match `ſ`, `ß` does not match `ẞ`).
//!
//! The pattern has already been accepted by `regress` (a JavaScript
//! engine), which gives the syntax errors; this reader only sees valid
//! patterns and reads anything odd as JavaScript's web grammar does.

use regex_syntax::hir::{ClassUnicode, ClassUnicodeRange};

/// One node of a pattern.
#[derive(Clone, Debug)]
pub enum Node {
    /// Matches the empty string.
    Empty,
    /// One character of the set.
    Set(ClassUnicode),
    /// One after the other.
    Concat(Vec<Node>),
    /// Alternatives, first preferred.
    Alt(Vec<Node>),
    /// A capture group (1-based index), or a plain group.
    Group(Option<usize>, Box<Node>),
    /// `node` from `min` to `max` times (no bound when `None`), greedy
    /// or lazy.
    #[allow(missing_docs)]
    Repeat {
        node: Box<Node>,
        min: u32,
        max: Option<u32>,
        greedy: bool,
    },
    /// `^`: start of input, or of a line under `m`.
    Start,
    /// `$`: end of input, or of a line under `m`.
    End,
    /// `\b` (true) or `\B` (false), ASCII word characters.
    WordBoundary(bool),
    /// `\1`, `\k<name>`: group index.
    BackRef(usize),
    /// `(?=`, `(?!`, `(?<=`, `(?<!`.
    #[allow(missing_docs)]
    Look {
        ahead: bool,
        negate: bool,
        node: Box<Node>,
    },
}

/// A read pattern.
#[derive(Debug)]
pub struct Pattern {
    /// The tree.
    pub node: Node,
    /// Number of capture groups.
    pub groups: usize,
    /// Group names and their indices.
    pub names: Vec<(String, usize)>,
    /// Flag `i`.
    pub ignore_case: bool,
    /// Flag `m`.
    pub multiline: bool,
}

/// JavaScript's Canonicalize (ECMA-262 22.2.2.7.3) without the `u` flag:
/// the upper case of a character when that is one character, except that
/// a non-ASCII character never becomes an ASCII one. Characters outside
/// the Basic Multilingual Plane are UTF-16 surrogate pairs in JavaScript,
/// whose halves have no case: they stay themselves.
pub fn canonicalize(c: char) -> char {
    if c as u32 > 0xFFFF {
        return c;
    }
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) if !(c as u32 >= 128 && (u as u32) < 128) && (u as u32) <= 0xFFFF => u,
        _ => c,
    }
}

fn one(c: char) -> ClassUnicode {
    ClassUnicode::new([ClassUnicodeRange::new(c, c)])
}

fn ranges(rs: &[(char, char)]) -> ClassUnicode {
    ClassUnicode::new(rs.iter().map(|&(a, b)| ClassUnicodeRange::new(a, b)))
}

/// Whether `class` holds `c`.
pub fn contains(class: &ClassUnicode, c: char) -> bool {
    let rs = class.ranges();
    rs.binary_search_by(|r| {
        if r.end() < c {
            std::cmp::Ordering::Less
        } else if r.start() > c {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        }
    })
    .is_ok()
}

/// The characters of `class` and every character JavaScript's `i` flag
/// makes equal to one of them.
fn close_under_case(class: &mut ClassUnicode) {
    let mut added = class.clone();
    added.case_fold_simple();
    added.difference(class);
    let mut extra = Vec::new();
    for r in added.iter() {
        for d in (r.start() as u32..=r.end() as u32).filter_map(char::from_u32) {
            let mut orbit = one(d);
            orbit.case_fold_simple();
            let cd = canonicalize(d);
            let equal = orbit.iter().any(|o| {
                (o.start() as u32..=o.end() as u32)
                    .filter_map(char::from_u32)
                    .any(|c| c != d && contains(class, c) && canonicalize(c) == cd)
            });
            if equal {
                extra.push(ClassUnicodeRange::new(d, d));
            }
        }
    }
    class.union(&ClassUnicode::new(extra));
}

/// `\d`.
pub fn digits() -> ClassUnicode {
    ranges(&[('0', '9')])
}

/// `\w`: ASCII letters, digits and `_`.
pub fn word() -> ClassUnicode {
    ranges(&[('0', '9'), ('A', 'Z'), ('_', '_'), ('a', 'z')])
}

/// `\s`: JavaScript's WhiteSpace and LineTerminator.
pub fn space() -> ClassUnicode {
    ranges(&[
        ('\t', '\r'),
        (' ', ' '),
        ('\u{A0}', '\u{A0}'),
        ('\u{1680}', '\u{1680}'),
        ('\u{2000}', '\u{200A}'),
        ('\u{2028}', '\u{2029}'),
        ('\u{202F}', '\u{202F}'),
        ('\u{205F}', '\u{205F}'),
        ('\u{3000}', '\u{3000}'),
        ('\u{FEFF}', '\u{FEFF}'),
    ])
}

/// JavaScript's line terminators: `\n`, `\r`, U+2028, U+2029.
pub fn is_line_terminator(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}')
}

/// `.`: anything but a line terminator.
fn dot() -> ClassUnicode {
    let mut c = ranges(&[('\n', '\n'), ('\r', '\r'), ('\u{2028}', '\u{2029}')]);
    c.negate();
    c
}

fn negated(mut c: ClassUnicode) -> ClassUnicode {
    c.negate();
    c
}

/// Reads `source` (already known valid) with flags `i`, `m`.
pub fn parse(source: &str, ignore_case: bool, multiline: bool) -> Result<Pattern, String> {
    let chars: Vec<char> = source.chars().collect();
    let (groups, has_names) = count_groups(&chars);
    let mut p = Parser {
        chars,
        at: 0,
        ignore_case,
        groups,
        has_names,
        next_group: 0,
        names: Vec::new(),
        pending_names: Vec::new(),
    };
    let node = p.disjunction()?;
    if p.at < p.chars.len() {
        return Err(format!("unexpected '{}'", p.chars[p.at]));
    }
    // Resolve `\k<name>` read before its group.
    let names = p.names.clone();
    let node = resolve_names(node, &names, &p.pending_names)?;
    Ok(Pattern {
        node,
        groups,
        names,
        ignore_case,
        multiline,
    })
}

/// Named back references are read as indices `usize::MAX - k` into the
/// pending list, then resolved once every group is known.
fn resolve_names(
    node: Node,
    names: &[(String, usize)],
    pending: &[String],
) -> Result<Node, String> {
    let r = |n: Node| resolve_names(n, names, pending);
    Ok(match node {
        Node::BackRef(i) if i > usize::MAX / 2 => {
            let name = &pending[usize::MAX - i];
            match names.iter().find(|(n, _)| n == name) {
                Some((_, index)) => Node::BackRef(*index),
                None => return Err(format!("no group named {name}")),
            }
        }
        Node::Concat(v) => Node::Concat(v.into_iter().map(r).collect::<Result<_, _>>()?),
        Node::Alt(v) => Node::Alt(v.into_iter().map(r).collect::<Result<_, _>>()?),
        Node::Group(i, n) => Node::Group(i, Box::new(r(*n)?)),
        Node::Repeat {
            node,
            min,
            max,
            greedy,
        } => Node::Repeat {
            node: Box::new(r(*node)?),
            min,
            max,
            greedy,
        },
        Node::Look {
            ahead,
            negate,
            node,
        } => Node::Look {
            ahead,
            negate,
            node: Box::new(r(*node)?),
        },
        other => other,
    })
}

/// The number of capture groups and whether any is named.
fn count_groups(chars: &[char]) -> (usize, bool) {
    let (mut n, mut named, mut i, mut in_class) = (0, false, 0, false);
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 1,
            '[' => in_class = true,
            ']' => in_class = false,
            '(' if !in_class => {
                if chars.get(i + 1) != Some(&'?') {
                    n += 1;
                } else if chars.get(i + 2) == Some(&'<')
                    && !matches!(chars.get(i + 3), Some('=') | Some('!'))
                {
                    n += 1;
                    named = true;
                }
            }
            _ => {}
        }
        i += 1;
    }
    (n, named)
}

struct Parser {
    chars: Vec<char>,
    at: usize,
    ignore_case: bool,
    groups: usize,
    has_names: bool,
    next_group: usize,
    names: Vec<(String, usize)>,
    pending_names: Vec<String>,
}

/// A class item: a set, or one character (which may end a range).
enum Item {
    Char(char),
    Set(ClassUnicode),
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }
    fn peek_at(&self, k: usize) -> Option<char> {
        self.chars.get(self.at + k).copied()
    }
    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    /// A set as the pattern means it: closed under case with `i`.
    fn set(&self, mut c: ClassUnicode) -> Node {
        if self.ignore_case {
            close_under_case(&mut c);
        }
        Node::Set(c)
    }

    fn disjunction(&mut self) -> Result<Node, String> {
        let mut alts = vec![self.alternative()?];
        while self.eat('|') {
            alts.push(self.alternative()?);
        }
        Ok(if alts.len() == 1 {
            alts.pop().unwrap()
        } else {
            Node::Alt(alts)
        })
    }

    fn alternative(&mut self) -> Result<Node, String> {
        let mut items = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom()?;
            let atom = self.quantified(atom)?;
            items.push(atom);
        }
        Ok(match items.len() {
            0 => Node::Empty,
            1 => items.pop().unwrap(),
            _ => Node::Concat(items),
        })
    }

    /// `{n}`, `{n,}`, `{n,m}` at the cursor, if one is there.
    fn braces(&self) -> Option<(u32, Option<u32>, usize)> {
        let mut k = self.at + 1;
        let num = |k: &mut usize| -> Option<u32> {
            let start = *k;
            let mut v: u64 = 0;
            while let Some(d) = self.chars.get(*k).and_then(|c| c.to_digit(10)) {
                v = (v * 10 + d as u64).min(u32::MAX as u64);
                *k += 1;
            }
            (*k > start).then_some(v as u32)
        };
        let min = num(&mut k)?;
        let max = if self.chars.get(k) == Some(&',') {
            k += 1;
            if self.chars.get(k) == Some(&'}') {
                None
            } else {
                Some(num(&mut k)?)
            }
        } else {
            Some(min)
        };
        (self.chars.get(k) == Some(&'}')).then_some((min, max, k + 1 - self.at))
    }

    fn quantified(&mut self, atom: Node) -> Result<Node, String> {
        let (min, max) = match self.peek() {
            Some('*') => {
                self.at += 1;
                (0, None)
            }
            Some('+') => {
                self.at += 1;
                (1, None)
            }
            Some('?') => {
                self.at += 1;
                (0, Some(1))
            }
            Some('{') => match self.braces() {
                Some((min, max, len)) => {
                    self.at += len;
                    (min, max)
                }
                None => return Ok(atom),
            },
            _ => return Ok(atom),
        };
        if let Some(m) = max {
            if m < min {
                return Err("numbers out of order in {} quantifier".into());
            }
        }
        let greedy = !self.eat('?');
        Ok(Node::Repeat {
            node: Box::new(atom),
            min,
            max,
            greedy,
        })
    }

    fn atom(&mut self) -> Result<Node, String> {
        let c = self.peek().ok_or("unexpected end")?;
        self.at += 1;
        Ok(match c {
            '^' => Node::Start,
            '$' => Node::End,
            '.' => Node::Set(dot()),
            '(' => self.group()?,
            '[' => self.class()?,
            '\\' => self.escape()?,
            c => self.set(one(c)),
        })
    }

    fn group(&mut self) -> Result<Node, String> {
        let node = if self.eat('?') {
            match self.peek() {
                Some(':') => {
                    self.at += 1;
                    Node::Group(None, Box::new(self.disjunction()?))
                }
                Some('=') | Some('!') => {
                    let negate = self.peek() == Some('!');
                    self.at += 1;
                    Node::Look {
                        ahead: true,
                        negate,
                        node: Box::new(self.disjunction()?),
                    }
                }
                Some('<') if matches!(self.peek_at(1), Some('=') | Some('!')) => {
                    let negate = self.peek_at(1) == Some('!');
                    self.at += 2;
                    Node::Look {
                        ahead: false,
                        negate,
                        node: Box::new(self.disjunction()?),
                    }
                }
                Some('<') => {
                    self.at += 1;
                    let name = self.name()?;
                    self.next_group += 1;
                    let index = self.next_group;
                    self.names.push((name, index));
                    Node::Group(Some(index), Box::new(self.disjunction()?))
                }
                _ => return Err("invalid group".into()),
            }
        } else {
            self.next_group += 1;
            let index = self.next_group;
            Node::Group(Some(index), Box::new(self.disjunction()?))
        };
        if !self.eat(')') {
            return Err("unterminated group".into());
        }
        Ok(node)
    }

    /// A group name up to its `>`.
    fn name(&mut self) -> Result<String, String> {
        let mut name = String::new();
        loop {
            match self.peek() {
                Some('>') => {
                    self.at += 1;
                    return Ok(name);
                }
                Some(c) => {
                    name.push(c);
                    self.at += 1;
                }
                None => return Err("unterminated group name".into()),
            }
        }
    }

    /// Up to `max` hex digits, exactly `n` of them, as a number.
    fn hex(&mut self, n: usize) -> Option<u32> {
        let digits: String = self.chars.get(self.at..self.at + n)?.iter().collect();
        if digits.len() != n || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        self.at += n;
        u32::from_str_radix(&digits, 16).ok()
    }

    /// `\u` and `\x` bodies, surrogate pairs joined.
    fn unicode_escape(&mut self) -> Option<Option<char>> {
        let u = self.hex(4)?;
        if (0xD800..0xDC00).contains(&u)
            && self.peek() == Some('\\')
            && self.peek_at(1) == Some('u')
        {
            let save = self.at;
            self.at += 2;
            match self.hex(4) {
                Some(lo) if (0xDC00..0xE000).contains(&lo) => {
                    return Some(char::from_u32(
                        0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00),
                    ));
                }
                _ => self.at = save,
            }
        }
        // A lone surrogate can't be in a Rust string: it never matches.
        Some(char::from_u32(u))
    }

    /// Legacy octal after a backslash: up to three digits, at most 0o377.
    fn octal(&mut self, first: u32) -> char {
        let mut v = first;
        for _ in 0..2 {
            match self.peek().and_then(|c| c.to_digit(8)) {
                Some(d) if v * 8 + d <= 0o377 => {
                    v = v * 8 + d;
                    self.at += 1;
                }
                _ => break,
            }
        }
        char::from_u32(v).unwrap_or('\0')
    }

    /// The escapes both outside and inside classes share: a character or
    /// a set. `in_class` changes `\b`, `\c` and the digits.
    fn char_escape(&mut self, in_class: bool) -> Result<Item, String> {
        let c = self.peek().ok_or("\\ at end of pattern")?;
        self.at += 1;
        Ok(match c {
            'd' => Item::Set(digits()),
            'D' => Item::Set(negated(digits())),
            'w' => Item::Set(word()),
            'W' => Item::Set(negated(word())),
            's' => Item::Set(space()),
            'S' => Item::Set(negated(space())),
            'f' => Item::Char('\u{C}'),
            'n' => Item::Char('\n'),
            'r' => Item::Char('\r'),
            't' => Item::Char('\t'),
            'v' => Item::Char('\u{B}'),
            'b' if in_class => Item::Char('\u{8}'),
            'c' => match self.peek() {
                Some(l)
                    if l.is_ascii_alphabetic()
                        || (in_class && (l.is_ascii_digit() || l == '_')) =>
                {
                    self.at += 1;
                    Item::Char(char::from_u32(l as u32 % 32).unwrap_or('\0'))
                }
                _ => {
                    // `\c` not followed by a letter: a backslash, and the
                    // `c` is read next.
                    self.at -= 1;
                    Item::Char('\\')
                }
            },
            'x' => match self.hex(2) {
                Some(v) => Item::Char(char::from_u32(v).unwrap_or('\0')),
                None => Item::Char('x'),
            },
            'u' => match self.unicode_escape() {
                Some(Some(ch)) => Item::Char(ch),
                Some(None) => Item::Set(ClassUnicode::empty()),
                None => Item::Char('u'),
            },
            '0'..='7' => {
                if c == '0' && !self.peek().is_some_and(|d| d.is_ascii_digit()) {
                    Item::Char('\0')
                } else {
                    Item::Char(self.octal(c.to_digit(8).unwrap()))
                }
            }
            other => Item::Char(other),
        })
    }

    fn escape(&mut self) -> Result<Node, String> {
        let c = self.peek().ok_or("\\ at end of pattern")?;
        match c {
            'b' | 'B' => {
                self.at += 1;
                return Ok(Node::WordBoundary(c == 'b'));
            }
            '1'..='9' => {
                // A back reference when that many groups exist, else
                // legacy octal (1-7) or the digit itself (8, 9).
                let start = self.at;
                let mut v: usize = 0;
                while let Some(d) = self.peek().and_then(|c| c.to_digit(10)) {
                    v = v.saturating_mul(10).saturating_add(d as usize);
                    self.at += 1;
                }
                if v <= self.groups {
                    return Ok(Node::BackRef(v));
                }
                self.at = start;
            }
            'k' if self.has_names && self.peek_at(1) == Some('<') => {
                self.at += 2;
                let name = self.name()?;
                let known = self.names.iter().find(|(n, _)| *n == name).map(|(_, i)| *i);
                return Ok(Node::BackRef(match known {
                    Some(i) => i,
                    None => {
                        self.pending_names.push(name);
                        usize::MAX - (self.pending_names.len() - 1)
                    }
                }));
            }
            _ => {}
        }
        Ok(match self.char_escape(false)? {
            Item::Char(ch) => self.set(one(ch)),
            Item::Set(set) => self.set(set),
        })
    }

    fn class_item(&mut self) -> Result<Item, String> {
        let c = self.peek().ok_or("unterminated character class")?;
        self.at += 1;
        if c == '\\' {
            if self.peek() == Some('-') {
                self.at += 1;
                return Ok(Item::Char('-'));
            }
            return self.char_escape(true);
        }
        Ok(Item::Char(c))
    }

    fn class(&mut self) -> Result<Node, String> {
        let negate = self.eat('^');
        let mut set = ClassUnicode::empty();
        loop {
            match self.peek() {
                None => return Err("unterminated character class".into()),
                Some(']') => {
                    self.at += 1;
                    break;
                }
                _ => {}
            }
            let first = self.class_item()?;
            let is_range = self.peek() == Some('-') && !matches!(self.peek_at(1), Some(']') | None);
            if !is_range {
                match first {
                    Item::Char(c) => set.push(ClassUnicodeRange::new(c, c)),
                    Item::Set(s) => set.union(&s),
                }
                continue;
            }
            self.at += 1;
            let second = self.class_item()?;
            match (first, second) {
                (Item::Char(a), Item::Char(b)) => {
                    if a > b {
                        return Err("range out of order in character class".into());
                    }
                    set.push(ClassUnicodeRange::new(a, b));
                }
                // Annex B: a class escape next to `-` makes no range.
                (a, b) => {
                    for item in [a, Item::Char('-'), b] {
                        match item {
                            Item::Char(c) => set.push(ClassUnicodeRange::new(c, c)),
                            Item::Set(s) => set.union(&s),
                        }
                    }
                }
            }
        }
        if self.ignore_case {
            close_under_case(&mut set);
        }
        if negate {
            set.negate();
        }
        Ok(Node::Set(set))
    }
}
