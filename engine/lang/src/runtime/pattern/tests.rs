//! The engines against regress (a JavaScript engine, the one this module
//! replaces for searching), and JavaScript's meaning where the `regex`
//! family of crates means something else.

use super::*;
use std::time::{Duration, Instant};

fn compiled(source: &str, flags: &str) -> Compiled {
    Compiled::new(source, flags.contains('i'), flags.contains('m')).unwrap()
}

/// Every match as regress finds it: (range, groups).
type Found = Vec<(Range<usize>, Vec<Option<Range<usize>>>)>;

fn regress_all(source: &str, flags: &str, text: &str) -> Found {
    let engine_flags: String = flags.chars().filter(|c| *c != 'g').collect();
    let re = regress::Regex::with_flags(source, engine_flags.as_str()).unwrap();
    let mut out = Vec::new();
    let mut at = 0;
    while at <= text.len() {
        let Some(m) = re.find_from(text, at).next() else {
            break;
        };
        at = if m.range.is_empty() {
            m.range.end + text[m.range.end..].chars().next().map_or(1, char::len_utf8)
        } else {
            m.range.end
        };
        out.push((m.range.clone(), m.captures.clone()));
    }
    out
}

fn ours(c: &Compiled, text: &str) -> Found {
    let mut b = Budget::new(u64::MAX);
    c.find_all(text, &mut b)
        .unwrap()
        .into_iter()
        .map(|m| (m.range, m.groups))
        .collect()
}

/// The backtracker alone, for every pattern (the engine the others fall
/// back on must be right everywhere).
fn backtracker_all(c: &Compiled, text: &str) -> Found {
    let mut b = Budget::new(u64::MAX);
    let mut out = Vec::new();
    let mut at = 0;
    while at <= text.len() {
        let Some(regs) = c.program.find_at(text, at, false, &mut b).unwrap() else {
            break;
        };
        let range = |g: usize| {
            let (s, e) = (regs[2 * g], regs[2 * g + 1]);
            (s != usize::MAX && e != usize::MAX && s <= e).then_some(s..e)
        };
        let whole = range(0).unwrap();
        at = if whole.is_empty() {
            whole.end + text[whole.end..].chars().next().map_or(1, char::len_utf8)
        } else {
            whole.end
        };
        out.push((whole, (1..regs.len() / 2).map(range).collect()));
    }
    out
}

const PATTERNS: &[(&str, &str)] = &[
    ("a", ""),
    ("a+", ""),
    ("a*", ""),
    ("a*?b", ""),
    ("(a|ab)(c|bcd)(d*)", ""),
    ("^(\\d+)-(\\d+)$", ""),
    ("\\w+", ""),
    ("\\W+", ""),
    ("\\s+", ""),
    ("\\S+", ""),
    ("\\bfoo\\b", ""),
    ("\\Boo\\B", ""),
    ("[a-c]+", "i"),
    ("[^a-c]+", "i"),
    ("hello", "i"),
    ("HÉ", "i"),
    ("k", "i"),
    ("s", "i"),
    ("ß", "i"),
    ("^b", "m"),
    ("a$", "m"),
    ("a$", ""),
    ("^", "m"),
    ("$", "m"),
    (".", ""),
    (".+", ""),
    ("(?:(a)|b)+", ""),
    ("(a*)*", ""),
    ("(a*)+b", ""),
    ("(?:|a)*", ""),
    ("(a|)?", ""),
    ("(a?)*?b", ""),
    ("(\\w)\\1", ""),
    ("(?<x>\\w)\\k<x>", ""),
    ("(a)|\\1b", ""),
    ("(?=(\\w+))\\1:", ""),
    ("foo(?!bar)", ""),
    ("(?<=\\$)\\d+", ""),
    ("(?<!\\$)\\b\\d+", ""),
    ("[\\d-z]+", ""),
    ("\\x41\\u0042\\103", ""),
    ("a{2,3}", ""),
    ("a{,3}", ""),
    ("a{2}?", ""),
    ("x{", ""),
    ("[]a]", ""),
    ("[^]", ""),
    ("\\cJ", ""),
    ("\\c", ""),
    ("[\\b]", ""),
    ("\\0", ""),
    ("\\8", ""),
    ("(a)\\2", ""),
    ("\\k<a>", ""),
    ("(?<n>a)|(?<m>b)", ""),
    ("(\\d{3})[-. ]?(\\d{4})", ""),
    ("[\\u00e0-\\u00ff]+", "i"),
    ("\\u00df", "i"),
    ("(?:ab|a)(?:c|bcd)", ""),
    ("(a+)+$", ""),
    ("[\\s\\S]", ""),
    ("\\/\\-\\#", ""),
    ("(b)?c|a", ""),
];

const TEXTS: &[&str] = &[
    "",
    "a",
    "aaa b",
    "abcd",
    "abcbcd",
    "12-345",
    "foo bar foobar barfoo",
    "café É é hé HÉ",
    "K k \u{212A} s S \u{17F} ß \u{1E9E}",
    "a\nb\r\nb\u{2028}b",
    "ab aab",
    "ab",
    "aa:bb cc:",
    "$12 and 34",
    "x{ a{,3} 5-z d",
    "\u{A0}tab\there \u{3000}",
    "ABC \u{8} \n\0 89",
    "555-1234 555.9876",
    "ÀÉÎõü àéîÕÜ",
    "😀a😀",
    "/-#",
    "bc a c",
];

#[test]
fn every_engine_agrees_with_regress() {
    let mut failures = Vec::new();
    for (source, flags) in PATTERNS {
        let c = compiled(source, flags);
        for text in TEXTS {
            let mut expected = regress_all(source, flags, text);
            if (*source, *flags) == ("s", "i") && text.contains('\u{17F}') {
                // regress folds ſ (U+017F) to s as Unicode does; JavaScript
                // without the u flag does not (`/s/i.test("ſ")` is false in
                // V8, ECMA-262 Canonicalize): ours is JavaScript's.
                expected.retain(|(r, _)| &text[r.clone()] != "\u{17F}");
            }
            let got = ours(&c, text);
            if got != expected {
                failures.push(format!(
                    "re#{source}#{flags} on {text:?} (engine {:?}): {got:?} != {expected:?}",
                    c.engine(text, true)
                ));
            }
            let got = backtracker_all(&c, text);
            if got != expected {
                failures.push(format!(
                    "backtracker: re#{source}#{flags} on {text:?}: {got:?} != {expected:?}"
                ));
            }
            let mut b = Budget::new(u64::MAX);
            if c.is_match(text, &mut b).unwrap() == expected.is_empty() {
                failures.push(format!("is_match: re#{source}#{flags} on {text:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn matches(source: &str, flags: &str, text: &str) -> bool {
    compiled(source, flags)
        .is_match(text, &mut Budget::new(u64::MAX))
        .unwrap()
}

#[test]
fn javascript_classes_are_ascii_where_javascript_says_so() {
    // `\d` is ASCII only (regex's \d is Unicode's Nd).
    assert!(!matches("\\d", "", "\u{663}")); // ARABIC-INDIC DIGIT THREE
    assert!(!matches("\\w", "", "é"));
    assert!(matches("\\W", "", "é"));
    // `\b` uses ASCII word characters: no boundary between é and !.
    assert!(!matches("é\\b", "", "café!"));
    assert!(matches("\\bcaf", "", "café!"));
    // `\s` is JavaScript's whitespace: NBSP, U+FEFF and the line
    // separators, not U+0085 (which Unicode's White_Space has).
    assert!(matches("^\\s+$", "", "\u{A0}\u{FEFF}\u{2028}"));
    assert!(!matches("\\s", "", "\u{85}"));
    for text in ["a\u{85}", "é"] {
        assert_eq!(compiled("\\w", "").engine(text, true), Engine::Linear);
    }
}

#[test]
fn dollar_and_dot_and_multiline_are_javascript_s() {
    // `$` without `m` is the very end, not before a final newline.
    assert!(!matches("a$", "", "a\n"));
    assert!(matches("a$", "m", "a\n"));
    // `.` leaves out all four line terminators.
    for t in ["\n", "\r", "\u{2028}", "\u{2029}"] {
        assert!(!matches(".", "", t), "{t:?}");
    }
    assert!(matches(".", "", "\u{85}"));
    // Under `m`, `^` and `$` see \r and U+2028 as line ends: the linear
    // engine only knows \n, so such text goes to the backtracker.
    assert!(matches("^b", "m", "a\rb"));
    assert!(matches("a$", "m", "a\u{2028}b"));
    assert!(!matches("^b", "", "a\nb"));
    assert_eq!(compiled("^b", "m").engine("a\nb", false), Engine::Linear);
    assert_eq!(compiled("^b", "m").engine("a\rb", false), Engine::Backtrack);
}

#[test]
fn ignore_case_is_javascript_s_canonicalisation() {
    assert!(matches("hello", "i", "HeLLo"));
    assert!(matches("é", "i", "É"));
    assert!(matches("[a-z]+$", "i", "ABC"));
    // Unicode simple case folding would match these; JavaScript without
    // the u flag does not.
    assert!(!matches("k", "i", "\u{212A}")); // KELVIN SIGN
    assert!(!matches("s", "i", "\u{17F}")); // LATIN SMALL LETTER LONG S
    assert!(!matches("ß", "i", "\u{1E9E}"));
    assert!(!matches("[a-z]", "i", "\u{212A}"));
    assert!(matches("[^a-z]", "i", "\u{212A}"));
    assert!(!matches("[^a-z]", "i", "K"));
    // Greek: µ, μ and Μ are one letter under `i`.
    assert!(matches("\u{B5}", "i", "\u{39C}"));
    // A back reference compares case-insensitively too.
    assert!(matches("^(a)\\1$", "i", "aA"));
    assert!(!matches("^(a)\\1$", "", "aA"));
}

#[test]
fn captures_are_javascript_s() {
    let find = |s: &str, f: &str, t: &str| {
        let m = compiled(s, f)
            .find(t, &mut Budget::new(u64::MAX))
            .unwrap()
            .unwrap();
        m.groups
            .iter()
            .map(|g| g.clone().map(|r| t[r].to_string()))
            .collect::<Vec<_>>()
    };
    // A repeated group's captures are cleared at each iteration.
    assert_eq!(find("(?:(a)|b)+", "", "ab"), vec![None]);
    assert_eq!(
        compiled("(?:(a)|b)+", "").engine("ab", true),
        Engine::LinearThenBacktrack
    );
    assert_eq!(
        compiled("(?:(a)|b)+", "").engine("ab", false),
        Engine::Linear
    );
    // An empty iteration past the minimum fails.
    assert_eq!(find("(a*)*", "", "b"), vec![None]);
    assert_eq!(find("(a|)?", "", "b"), vec![None]);
    // A back reference to a group that has not matched matches "".
    assert_eq!(find("(a)|\\1b", "", "b"), vec![None]);
    // Named groups.
    let m = compiled("(?<year>\\d{4})-(?<m>\\d\\d)", "")
        .find("on 2024-05", &mut Budget::new(u64::MAX))
        .unwrap()
        .unwrap();
    assert_eq!(
        m.names,
        vec![("year".into(), Some(3..7)), ("m".into(), Some(8..10))]
    );
}

#[test]
fn a_catastrophic_pattern_runs_in_linear_time() {
    // The issue's example: 2^37 paths for a backtracker.
    let text = format!("{}b", "a".repeat(37));
    for (source, captures) in [("^(a+)+$", false), ("^(a+)+$", true), ("(x+x+)+y", true)] {
        let c = compiled(source, "");
        let t0 = Instant::now();
        let mut b = Budget::new(1000);
        if captures {
            assert_eq!(c.find(&text, &mut b).unwrap(), None);
        } else {
            assert!(!c.is_match(&text, &mut b).unwrap());
        }
        assert!(t0.elapsed() < Duration::from_secs(1), "{source}");
        assert_eq!(b.used, 0, "{source}: no step of backtracking");
    }
    // A long hostile input: still linear.
    let long = format!("{}b", "a".repeat(100_000));
    let t0 = Instant::now();
    assert!(!compiled("^(a+)+$", "")
        .is_match(&long, &mut Budget::new(0))
        .unwrap());
    assert!(t0.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_catastrophic_backtracking_pattern_stops_within_its_budget() {
    // A back reference needs the backtracker; 2^37 paths exceed any budget.
    let text = format!("{}b", "a".repeat(37));
    let c = compiled("^(a+)+\\1$", "");
    assert_eq!(c.engine(&text, false), Engine::Backtrack);
    let t0 = Instant::now();
    let mut b = Budget::new(1_000_000);
    assert_eq!(c.is_match(&text, &mut b), Err(Stop::Steps));
    assert_eq!(b.used, 1_000_000);
    assert!(t0.elapsed() < Duration::from_secs(5));
    // Lookaround too.
    let c = compiled("^(?=(a+)+$)", "");
    let mut b = Budget::new(10_000);
    assert_eq!(c.find(&text, &mut b), Err(Stop::Steps));
    // With enough budget the same pattern answers on a friendly input.
    let c = compiled("^(a+)+\\1$", "");
    let mut b = Budget::new(1_000_000);
    assert!(c.is_match("aaaa", &mut b).unwrap());
}

#[test]
fn the_backtracking_stack_is_bounded() {
    // Each character of `(?:a|b)*` leaves a choice: more characters than
    // MAX_STACK end the search, not the process.
    let text = "a".repeat(backtrack::MAX_STACK + 10);
    let c = compiled("^(?:a|b)*(?=c)", "");
    let mut b = Budget::new(u64::MAX);
    assert_eq!(c.is_match(&text, &mut b), Err(Stop::Stack));
}
