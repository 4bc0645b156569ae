//! `random:` (docs/spec/krl-stdlib.md 8.5): ids, words and numbers, drawn from the
//! engine's source of randomness ([`Env::random`]) so tests can fix it.

use super::math::js_round;
use super::{Env, Kind, Member, Module};
use crate::runtime::error::RuntimeError;
use crate::runtime::value::Value;
use std::sync::atomic::{AtomicU32, Ordering};

/// The members of `random:`.
/// `random:`.
pub static MODULE: Module = Module {
    domain: "random",
    doc: "Random words, numbers and UUIDs.",
    members: MEMBERS,
    ..Module::BLANK
};

/// The members of `random:`.
static MEMBERS: &[Member] = &[
    Member {
        name: "integer",
        params: &["upper", "lower"],
        kind: Kind::Function(integer),
        ..Member::BLANK
    },
    Member {
        name: "number",
        params: &["upper", "lower"],
        kind: Kind::Function(number),
        ..Member::BLANK
    },
    Member {
        name: "uuid",
        params: &[],
        kind: Kind::Function(uuid),
        ..Member::BLANK
    },
    Member {
        name: "word",
        params: &[],
        kind: Kind::Function(word),
        ..Member::BLANK
    },
];

/// The next random number, kept inside `[0, 1)` whatever the source says.
fn draw(env: &mut Env) -> f64 {
    let r = (env.random)();
    if r.is_finite() && r > 0.0 {
        r.min(1.0 - f64::EPSILON / 2.0)
    } else {
        0.0
    }
}

/// `random:uuid()`: a collision-resistant id in the spirit of the
/// reference's CUIDs — `c`, then in base 36 the time (ms), a per-process
/// counter, a process fingerprint and 8 random digits (25 characters,
/// lower case, no spaces).
fn uuid(_: &[Value], env: &mut Env) -> Result<Value, RuntimeError> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let block = 36u64.pow(4);
    let mut id = String::with_capacity(25);
    id.push('c');
    let now = if env.now_ms.is_finite() && env.now_ms > 0.0 {
        env.now_ms as u64
    } else {
        0
    };
    id.push_str(&base36(now, 8));
    let count = COUNTER.fetch_add(1, Ordering::Relaxed) as u64;
    id.push_str(&base36(count % block, 4));
    let pid = std::process::id() as u64;
    id.push_str(&base36(pid % block, 4));
    for _ in 0..2 {
        let r = (draw(env) * block as f64) as u64;
        id.push_str(&base36(r.min(block - 1), 4));
    }
    Ok(Value::from(id))
}

/// `n` in base 36, padded with zeros to `width` (the last `width` digits if
/// longer).
fn base36(mut n: u64, width: usize) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    while n > 0 {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
    }
    while out.len() < width {
        out.push(b'0');
    }
    out.reverse();
    let text = String::from_utf8(out).expect("ASCII digits");
    text[text.len() - width..].to_string()
}

/// The words `random:word()` chooses from.
pub const WORDS: &[&str] = &[
    "able", "about", "above", "across", "action", "active", "actual", "after", "again", "against",
    "age", "agree", "air", "allow", "almost", "alone", "along", "already", "always", "amount",
    "angle", "animal", "answer", "apple", "area", "argue", "arrive", "art", "autumn", "awake",
    "baby", "back", "balance", "ball", "band", "bank", "basket", "battle", "beach", "bean", "bear",
    "beauty", "bell", "belong", "bench", "berry", "bird", "black", "blanket", "blue", "boat",
    "body", "bone", "book", "border", "bottle", "bread", "breeze", "bridge", "bright", "brother",
    "brush", "build", "butter", "button", "cabin", "cake", "calm", "camera", "candle", "canvas",
    "carpet", "castle", "cattle", "center", "chair", "chalk", "change", "cheese", "cherry",
    "circle", "city", "clean", "clever", "cliff", "clock", "cloud", "coast", "coffee", "color",
    "copper", "corner", "cotton", "country", "courage", "cousin", "cradle", "cream", "crystal",
    "current", "curtain", "dance", "danger", "daring", "dawn", "desert", "diamond", "dinner",
    "doctor", "dream", "drift", "eager", "early", "earth", "echo", "edge", "effort", "elbow",
    "engine", "evening", "event", "example", "fabric", "family", "farm", "feather", "fellow",
    "field", "finger", "fire", "flame", "flower", "forest", "fortune", "fountain", "friend",
    "frost", "garden", "gentle", "giant", "glass", "glove", "gold", "grain", "grass", "gravity",
    "green", "guitar", "harbor", "harvest", "heart", "helmet", "hidden", "history", "honey",
    "horizon", "horse", "house", "humble", "island", "jacket", "jewel", "journey", "jungle",
    "kettle", "kind", "kitchen", "ladder", "lake", "lantern", "laugh", "leaf", "lemon", "letter",
    "library", "light", "lively", "lunar", "machine", "magnet", "maple", "market", "meadow",
    "melody", "message", "metal", "middle", "mirror", "moment", "monkey", "morning", "mountain",
    "music", "narrow", "nature", "needle", "night", "noble", "north", "number", "ocean", "orange",
    "orbit", "paper", "parade", "pebble", "pencil", "people", "pepper", "piano", "picture",
    "pillow", "planet", "pocket", "poem", "polite", "pond", "possible", "puzzle", "quiet",
    "rabbit", "rain", "record", "river", "rocket", "round", "saddle", "sail", "salt", "season",
    "secret", "shadow", "shelter", "silver", "simple", "sister", "smooth", "snow", "soft", "spark",
    "spring", "square", "star", "stone", "story", "stream", "summer", "sunset", "table", "thunder",
    "ticket", "timber", "tower", "travel", "tree", "tunnel", "valley", "velvet", "village",
    "violet", "voice", "wagon", "water", "whisper", "window", "winter", "wonder", "yellow",
    "zebra",
];

/// `random:word()`: a random English word from [`WORDS`].
fn word(_: &[Value], env: &mut Env) -> Result<Value, RuntimeError> {
    let i = (draw(env) * WORDS.len() as f64) as usize;
    Ok(Value::from(WORDS[i.min(WORDS.len() - 1)]))
}

/// The bounds `[lower, upper]` (in that order, smaller first): each
/// converted with `N` (optionally rounded) when supplied; a bound with no
/// number counts as not given. `lower` defaults to 0; `upper` to 1, or to
/// 0 when only `lower` is given.
fn bounds(args: &[Value], round: bool) -> (f64, f64) {
    let get = |i: usize| {
        let v = args.get(i)?.to_number()?;
        Some(if round { js_round(v) } else { v })
    };
    let upper = get(0);
    let lower = get(1);
    let upper = upper.unwrap_or(if lower.is_none() { 1.0 } else { 0.0 });
    let lower = lower.unwrap_or(0.0);
    if lower <= upper {
        (lower, upper)
    } else {
        (upper, lower)
    }
}

/// `random:integer(upper, lower)`: a uniformly random integer in
/// `[lower, upper]` inclusive (bounds rounded; see [`bounds`]).
fn integer(args: &[Value], env: &mut Env) -> Result<Value, RuntimeError> {
    let (lower, upper) = bounds(args, true);
    let n = lower + (draw(env) * (upper - lower + 1.0)).floor();
    Ok(Value::number(n.min(upper)))
}

/// `random:number(upper, lower)`: a uniformly random number in
/// `[lower, upper]` (see [`bounds`]).
fn number(args: &[Value], env: &mut Env) -> Result<Value, RuntimeError> {
    let (lower, upper) = bounds(args, false);
    let n = lower + draw(env) * (upper - lower);
    Ok(Value::number(n.clamp(lower, upper)))
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    fn with(randoms: &[f64], name: &str, args: &[Value]) -> Value {
        run_at(NOW, randoms, "random", name, args).unwrap()
    }

    fn num(v: Value) -> f64 {
        match v {
            Value::Number(x) => x,
            other => panic!("not a number: {other:?}"),
        }
    }

    /// `name(args)` always within `[low, high]` (and an integer if asked)
    /// over a sweep of random draws including both extremes.
    fn in_range(name: &str, args: &[Value], low: f64, high: f64, int: bool) {
        let draws: Vec<f64> = (0..=100).map(|i| i as f64 / 100.0).collect();
        for r in draws.iter().chain(&[0.999_999_999, 1.0 - f64::EPSILON]) {
            let x = num(with(&[*r], name, args));
            assert!(
                low <= x && x <= high,
                "{name}{args:?} with {r}: {low} <= {x} <= {high}"
            );
            if int {
                assert_eq!(x.fract(), 0.0, "{name}{args:?}: not an int {x}");
            }
        }
    }

    #[test]
    fn integer_ranges_like_the_reference_tests() {
        in_range("integer", &[], 0.0, 1.0, true);
        in_range("integer", &[n(0.0)], 0.0, 0.0, true);
        in_range("integer", &[n(10.0)], 0.0, 10.0, true);
        in_range("integer", &[n(-7.0)], -7.0, 0.0, true);
        in_range("integer", &[n(-3.0), n(5.0)], -3.0, 5.0, true);
        in_range("integer", &[n(-3.0), st("five")], -3.0, 0.0, true);
        in_range("integer", &[st("4.49"), n(-8.0)], -8.0, 4.0, true);
        in_range("integer", &[st("four"), n(-8.49)], -8.0, 0.0, true);
        in_range("integer", &[st("four"), n(-8.0)], -8.0, 0.0, true);
    }

    #[test]
    fn number_ranges_like_the_reference_tests() {
        in_range("number", &[], 0.0, 1.0, false);
        in_range("number", &[n(0.0)], 0.0, 0.0, false);
        in_range("number", &[n(7.0)], 0.0, 7.0, false);
        in_range("number", &[n(-1.2)], -1.2, 0.0, false);
        in_range("number", &[n(-3.0), n(5.0)], -3.0, 5.0, false);
        in_range("number", &[n(9.87), st("-3.6")], -3.6, 9.87, false);
    }

    #[test]
    fn integers_are_uniform_and_reach_both_ends() {
        assert_eq!(with(&[0.0], "integer", &[n(10.0)]), n(0.0));
        assert_eq!(with(&[0.999], "integer", &[n(10.0)]), n(10.0));
        assert_eq!(with(&[0.5], "integer", &[n(3.0), n(1.0)]), n(2.0));
        // defaults: [0, 1]
        assert_eq!(with(&[0.2], "integer", &[]), n(0.0));
        assert_eq!(with(&[0.7], "integer", &[]), n(1.0));
        // null is N(null) = 0, not "omitted"
        assert_eq!(with(&[0.7], "integer", &[Value::Null]), n(0.0));
        // a misbehaving source still stays in range
        assert_eq!(with(&[1.0], "integer", &[n(10.0)]), n(10.0));
        assert_eq!(with(&[f64::NAN], "integer", &[n(10.0)]), n(0.0));
    }

    #[test]
    fn numbers_scale_the_draw() {
        assert_eq!(with(&[0.25], "number", &[n(8.0)]), n(2.0));
        assert_eq!(with(&[0.5], "number", &[n(-3.0), n(5.0)]), n(1.0));
        assert_eq!(with(&[0.5], "number", &[]), n(0.5));
    }

    #[test]
    fn uuids_are_cuid_shaped_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..200 {
            let r = i as f64 / 200.0;
            let id = with(&[r, 1.0 - r], "uuid", &[]);
            let id = id.as_str().unwrap().to_string();
            assert_eq!(id.len(), 25, "{id}");
            assert!(id.starts_with('c'), "{id}");
            assert!(id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
            assert!(seen.insert(id));
        }
        // the time is in the id: 2024-05-17 is lvae... in base 36
        let id = with(&[0.5], "uuid", &[]);
        assert_eq!(&id.as_str().unwrap()[1..9], base36(NOW as u64, 8));
    }

    #[test]
    fn base36_pads_and_keeps_the_last_digits() {
        assert_eq!(base36(0, 4), "0000");
        assert_eq!(base36(35, 2), "0z");
        assert_eq!(base36(36, 2), "10");
        assert_eq!(base36(36u64.pow(4) + 1, 4), "0001");
    }

    #[test]
    fn words_are_single_english_words() {
        for r in [0.0, 0.3, 0.999_999] {
            let w = with(&[r], "word", &[]);
            let w = w.as_str().unwrap();
            assert!(WORDS.contains(&w));
            assert!(!w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()));
        }
        assert_eq!(with(&[0.0], "word", &[]), st(WORDS[0]));
        assert_eq!(with(&[0.999_999], "word", &[]), st(WORDS[WORDS.len() - 1]));
        let mut sorted = WORDS.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), WORDS.len(), "no duplicates");
    }
}
