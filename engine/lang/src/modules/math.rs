//! `math:` (docs/spec/krl-stdlib.md 8.4): rounding, Base64, hashes and HMACs.
//!
//! Numbers are read with `N(x)` (a value with no number gives null, as
//! NaN does in the reference). Rounding at a precision shifts the decimal
//! point in the number's *decimal text* rather than multiplying, so
//! `math:round(1.005, 2)` is 1.01 as in the reference (lodash), not 1.

use super::{arg, s, Env, Kind, Member, Module};
use crate::runtime::error::RuntimeError;
use crate::runtime::value::{number_to_string, Value};
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Digest;

/// The members of `math:`.
/// `math:`.
pub static MODULE: Module = Module {
    domain: "math",
    doc: "Rounding, Base64, hashes and HMACs.",
    members: MEMBERS,
    ..Module::BLANK
};

/// The members of `math:`.
static MEMBERS: &[Member] = &[
    Member {
        name: "abs",
        params: &["number"],
        kind: Kind::Function(abs),
        ..Member::BLANK
    },
    Member {
        name: "base64decode",
        params: &["str", "encoding"],
        kind: Kind::Function(base64decode),
        ..Member::BLANK
    },
    Member {
        name: "base64encode",
        params: &["str", "encoding"],
        kind: Kind::Function(base64encode),
        ..Member::BLANK
    },
    Member {
        name: "ceiling",
        params: &["number", "precision"],
        kind: Kind::Function(ceiling),
        ..Member::BLANK
    },
    Member {
        name: "floor",
        params: &["number", "precision"],
        kind: Kind::Function(floor),
        ..Member::BLANK
    },
    Member {
        name: "hash",
        params: &["algorithm", "str", "encoding"],
        kind: Kind::Function(hash),
        ..Member::BLANK
    },
    Member {
        name: "hashAlgorithms",
        params: &[],
        kind: Kind::Property(hash_algorithms),
        ..Member::BLANK
    },
    Member {
        name: "hashFunctions",
        params: &[],
        kind: Kind::Function(hash_functions),
        ..Member::BLANK
    },
    Member {
        name: "hmac",
        params: &["algorithm", "key", "message", "encoding"],
        kind: Kind::Function(hmac),
        ..Member::BLANK
    },
    Member {
        name: "int",
        params: &["number"],
        kind: Kind::Function(int),
        ..Member::BLANK
    },
    Member {
        name: "round",
        params: &["number", "precision"],
        kind: Kind::Function(round),
        ..Member::BLANK
    },
];

/// The supported hash algorithms, as `math:hashAlgorithms` lists them.
pub const ALGORITHMS: &[&str] = &[
    "md5",
    "sha1",
    "sha224",
    "sha256",
    "sha384",
    "sha512",
    "sha512-224",
    "sha512-256",
];

/// `N(x)`, NaN when there is no number.
fn number(v: &Value) -> f64 {
    v.to_number().unwrap_or(f64::NAN)
}

/// `math:abs(number)`.
fn abs(args: &[Value], _: &mut Env) -> Result<Value, RuntimeError> {
    Ok(Value::number(number(arg(args, 0)).abs()))
}

/// `math:int(number)`: truncates toward zero.
fn int(args: &[Value], _: &mut Env) -> Result<Value, RuntimeError> {
    Ok(Value::number(number(arg(args, 0)).trunc()))
}

/// JavaScript's `Math.round`: the nearest integer, halves toward +∞, and
/// the sign of a zero result kept (`-0.4` → `-0`).
pub fn js_round(x: f64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    let f = x.floor();
    let r = if x - f >= 0.5 { f + 1.0 } else { f };
    if r == 0.0 && x.is_sign_negative() {
        -0.0
    } else {
        r
    }
}

/// Rounds `n` with `f` at `precision` decimal places (negative: tens,
/// hundreds...), shifting the exponent of the decimal text like lodash's
/// `_.round` / `_.ceil` / `_.floor`.
fn round_at(n: f64, precision: &Value, f: fn(f64) -> f64) -> f64 {
    let p = match precision {
        Value::Null => 0.0,
        v => {
            let p = number(v);
            if p.is_nan() {
                0.0
            } else {
                p.trunc().min(292.0)
            }
        }
    };
    if p == 0.0 || !n.is_finite() {
        return f(n);
    }
    // The precision is an integer below 293 here (it may be -Infinity).
    let p = p.max(-10_000.0) as i64;
    let shift = |x: f64, by: i64| -> f64 {
        let text = number_to_string(x);
        let (mantissa, exp) = match text.split_once('e') {
            Some((m, e)) => (m.to_string(), e.parse::<i64>().unwrap_or(0)),
            None => (text, 0),
        };
        format!("{mantissa}e{}", exp + by)
            .parse::<f64>()
            .unwrap_or(f64::NAN)
    };
    let rounded = f(shift(n, p));
    if !rounded.is_finite() {
        return f64::NAN;
    }
    shift(rounded, -p)
}

fn rounding(args: &[Value], f: fn(f64) -> f64) -> Result<Value, RuntimeError> {
    Ok(Value::number(round_at(
        number(arg(args, 0)),
        arg(args, 1),
        f,
    )))
}

/// `math:round(number, precision)`: halves round up (toward +∞).
fn round(args: &[Value], _: &mut Env) -> Result<Value, RuntimeError> {
    rounding(args, js_round)
}

/// `math:ceiling(number, precision)`.
fn ceiling(args: &[Value], _: &mut Env) -> Result<Value, RuntimeError> {
    rounding(args, f64::ceil)
}

/// `math:floor(number, precision)`.
fn floor(args: &[Value], _: &mut Env) -> Result<Value, RuntimeError> {
    rounding(args, f64::floor)
}

// ---------------------------------------------------------------------------
// Base64

/// A text encoding for `base64encode`/`base64decode` (Node's names).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Encoding {
    Utf8,
    Latin1,
    Ascii,
    Utf16Le,
    Hex,
    Base64,
    Base64Url,
}

/// The encoding argument: omitted, null or `""` is UTF-8; names are
/// Node's, case-insensitive.
fn encoding(v: &Value, who: &str) -> Result<Encoding, RuntimeError> {
    let name = match v {
        Value::Null => return Ok(Encoding::Utf8),
        Value::Str(t) => t.to_ascii_lowercase(),
        other => s(other),
    };
    Ok(match name.as_str() {
        "" | "utf8" | "utf-8" => Encoding::Utf8,
        "latin1" | "binary" => Encoding::Latin1,
        "ascii" => Encoding::Ascii,
        "ucs2" | "ucs-2" | "utf16le" | "utf-16le" => Encoding::Utf16Le,
        "hex" => Encoding::Hex,
        "base64" => Encoding::Base64,
        "base64url" => Encoding::Base64Url,
        _ => {
            return Err(RuntimeError::type_error(format!(
                "{who} doesn't recognize the encoding {}",
                s(v)
            )))
        }
    })
}

/// Node's lenient Base64 decoding: both alphabets, whitespace and other
/// strange characters skipped, padding optional, stops at `=`.
fn lenient_base64(text: &str) -> Vec<u8> {
    let mut clean: Vec<u8> = Vec::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'=' => break,
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' => clean.push(b),
            b'-' => clean.push(b'+'),
            b'_' => clean.push(b'/'),
            _ => {}
        }
    }
    if clean.len() % 4 == 1 {
        clean.pop();
    }
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    LENIENT.decode(&clean).unwrap_or_default()
}

/// The bytes of `text` in `enc` (Node's `Buffer.from(text, enc)`).
fn to_bytes(text: &str, enc: Encoding) -> Vec<u8> {
    match enc {
        Encoding::Utf8 => text.as_bytes().to_vec(),
        Encoding::Latin1 | Encoding::Ascii => text.encode_utf16().map(|u| u as u8).collect(),
        Encoding::Utf16Le => text.encode_utf16().flat_map(|u| u.to_le_bytes()).collect(),
        Encoding::Hex => {
            let digits: Vec<u32> = text.chars().map_while(|c| c.to_digit(16)).collect();
            digits
                .chunks_exact(2)
                .map(|p| (p[0] * 16 + p[1]) as u8)
                .collect()
        }
        Encoding::Base64 | Encoding::Base64Url => lenient_base64(text),
    }
}

/// `bytes` read as text in `enc` (Node's `buffer.toString(enc)`).
fn from_bytes(bytes: &[u8], enc: Encoding) -> String {
    match enc {
        Encoding::Utf8 => String::from_utf8_lossy(bytes).into_owned(),
        Encoding::Latin1 => bytes.iter().map(|&b| b as char).collect(),
        Encoding::Ascii => bytes.iter().map(|&b| (b & 0x7f) as char).collect(),
        Encoding::Utf16Le => {
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|p| u16::from_le_bytes([p[0], p[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        Encoding::Hex => hex(bytes),
        Encoding::Base64 => STANDARD.encode(bytes),
        Encoding::Base64Url => base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

/// `math:base64encode(str, encoding)`: Base64 of the bytes of `S(str)` in
/// `encoding` (default UTF-8).
fn base64encode(args: &[Value], _: &mut Env) -> Result<Value, RuntimeError> {
    let enc = encoding(arg(args, 1), "math:base64encode")?;
    Ok(Value::from(
        STANDARD.encode(to_bytes(&s(arg(args, 0)), enc)),
    ))
}

/// `math:base64decode(str, encoding)`: the text whose bytes in `encoding`
/// (default UTF-8) `S(str)` is the Base64 of. Decoding is lenient like
/// Node's (URL-safe alphabet, missing padding, stray characters).
fn base64decode(args: &[Value], _: &mut Env) -> Result<Value, RuntimeError> {
    let enc = encoding(arg(args, 1), "math:base64decode")?;
    Ok(Value::from(from_bytes(
        &lenient_base64(&s(arg(args, 0))),
        enc,
    )))
}

// ---------------------------------------------------------------------------
// Hashes

fn hash_algorithms() -> Value {
    Value::from(
        ALGORITHMS
            .iter()
            .map(|a| Value::from(*a))
            .collect::<Vec<_>>(),
    )
}

/// `math:hashFunctions()`: deprecated spelling of `math:hashAlgorithms`.
fn hash_functions(_: &[Value], _: &mut Env) -> Result<Value, RuntimeError> {
    Ok(hash_algorithms())
}

/// The algorithm argument of `who`, checked against [`ALGORITHMS`].
fn algorithm<'v>(v: &'v Value, who: &str) -> Result<&'v str, RuntimeError> {
    match v {
        Value::Str(a) if ALGORITHMS.contains(&&**a) => Ok(a),
        Value::Str(a) => Err(RuntimeError::new(format!(
            "{who} doesn't recognize the hash algorithm {a}"
        ))),
        other => Err(RuntimeError::type_error(format!(
            "{who} was given {} instead of a algorithm string",
            s(other)
        ))),
    }
}

/// The output encoding of `who`: `"hex"` unless given (any falsy value
/// counts as not given), else `"base64"`.
fn digest_encoding(v: &Value, who: &str) -> Result<bool, RuntimeError> {
    if !v.truthy() {
        return Ok(false);
    }
    match v.as_str() {
        Some("hex") => Ok(false),
        Some("base64") => Ok(true),
        _ => Err(RuntimeError::new(format!(
            "{who} encoding must be \"hex\" or \"base64\" but was {}",
            s(v)
        ))),
    }
}

fn digest(algorithm: &str, data: &[u8]) -> Vec<u8> {
    match algorithm {
        "md5" => md5::Md5::digest(data).to_vec(),
        "sha1" => sha1::Sha1::digest(data).to_vec(),
        "sha224" => sha2::Sha224::digest(data).to_vec(),
        "sha256" => sha2::Sha256::digest(data).to_vec(),
        "sha384" => sha2::Sha384::digest(data).to_vec(),
        "sha512" => sha2::Sha512::digest(data).to_vec(),
        "sha512-224" => sha2::Sha512_224::digest(data).to_vec(),
        "sha512-256" => sha2::Sha512_256::digest(data).to_vec(),
        _ => unreachable!("checked against ALGORITHMS"),
    }
}

fn mac(algorithm: &str, key: &[u8], data: &[u8]) -> Vec<u8> {
    macro_rules! run {
        ($t:ty) => {{
            let mut m = <Hmac<$t> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }};
    }
    match algorithm {
        "md5" => run!(md5::Md5),
        "sha1" => run!(sha1::Sha1),
        "sha224" => run!(sha2::Sha224),
        "sha256" => run!(sha2::Sha256),
        "sha384" => run!(sha2::Sha384),
        "sha512" => run!(sha2::Sha512),
        "sha512-224" => run!(sha2::Sha512_224),
        "sha512-256" => run!(sha2::Sha512_256),
        _ => unreachable!("checked against ALGORITHMS"),
    }
}

fn encode_digest(bytes: &[u8], base64: bool) -> Value {
    Value::from(if base64 {
        STANDARD.encode(bytes)
    } else {
        hex(bytes)
    })
}

/// `math:hash(algorithm, str, encoding)`: the digest of the UTF-8 bytes of
/// `S(str)`, in hex (default) or Base64.
fn hash(args: &[Value], _: &mut Env) -> Result<Value, RuntimeError> {
    const WHO: &str = "math:hash";
    let alg = algorithm(arg(args, 0), WHO)?;
    let b64 = digest_encoding(arg(args, 2), WHO)?;
    Ok(encode_digest(&digest(alg, s(arg(args, 1)).as_bytes()), b64))
}

/// `math:hmac(algorithm, key, message, encoding)`: the HMAC of the UTF-8
/// bytes of `S(message)` with the string `key`, in hex (default) or Base64.
fn hmac(args: &[Value], _: &mut Env) -> Result<Value, RuntimeError> {
    const WHO: &str = "math:hmac";
    let Some(key) = arg(args, 1).as_str() else {
        return Err(RuntimeError::new("math:hmac needs a key string"));
    };
    let alg = algorithm(arg(args, 0), WHO)?;
    let b64 = digest_encoding(arg(args, 3), WHO)?;
    Ok(encode_digest(
        &mac(alg, key.as_bytes(), s(arg(args, 2)).as_bytes()),
        b64,
    ))
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::runtime::value::Value;

    fn m(name: &str, args: &[Value]) -> Value {
        ok("math", name, args)
    }

    fn num(v: Value) -> f64 {
        match v {
            Value::Number(x) => x,
            other => panic!("not a number: {other:?}"),
        }
    }

    /// Same number, same sign of zero.
    fn same(v: Value, want: f64) {
        let got = num(v);
        assert!(
            got == want && got.is_sign_negative() == want.is_sign_negative(),
            "got {got:?}, want {want:?}"
        );
    }

    #[test]
    fn abs_and_int() {
        same(m("abs", &[n(0.46)]), 0.46);
        same(m("abs", &[n(-0.46)]), 0.46);
        same(m("abs", &[st("-3")]), 3.0);
        same(m("int", &[n(10.46)]), 10.0);
        same(m("int", &[n(-10.46)]), -10.0);
        same(m("int", &[st("7.9")]), 7.0);
        assert_eq!(m("abs", &[st("abc")]), Value::Null);
        assert_eq!(m("int", &[st("abc")]), Value::Null);
    }

    #[test]
    fn ceiling_and_floor() {
        same(m("ceiling", &[n(0.46)]), 1.0);
        same(m("ceiling", &[n(-0.46)]), -0.0);
        same(m("floor", &[n(0.46)]), 0.0);
        same(m("floor", &[n(-0.46)]), -1.0);
        same(m("ceiling", &[n(4.0061), n(2.0)]), 4.01);
        same(m("floor", &[n(4.0069), n(2.0)]), 4.0);
        same(m("floor", &[n(4066.0), n(-2.0)]), 4000.0);
        same(m("ceiling", &[n(4006.0), n(-2.0)]), 4100.0);
        same(m("ceiling", &[n(4066.0), n(-2.0)]), 4100.0);
        same(m("floor", &[n(0.046), n(1.0)]), 0.0);
    }

    #[test]
    fn round_halves_up_at_any_precision() {
        same(m("round", &[n(0.46)]), 0.0);
        same(m("round", &[n(-0.46)]), -0.0);
        same(m("round", &[n(-0.46), n(1.0)]), -0.5);
        same(m("round", &[n(4066.0), n(0.0)]), 4066.0);
        same(m("round", &[n(4066.0), n(-1.0)]), 4070.0);
        // the spec's example
        same(m("round", &[n(4066.0), n(-2.0)]), 4100.0);
        same(m("round", &[n(4066.0), n(-3.0)]), 4000.0);
        same(m("round", &[n(4066.0), n(-4.0)]), 0.0);
        same(m("round", &[n(2.5)]), 3.0);
        same(m("round", &[n(-2.5)]), -2.0);
        same(m("round", &[n(-2.51)]), -3.0);
        same(m("round", &[n(1.005), n(2.0)]), 1.01);
        same(m("round", &[n(1.2345), st("3")]), 1.235);
        same(m("round", &[n(1.5), Value::Null]), 2.0);
        same(m("round", &[n(1e21), n(2.0)]), 1e21);
        same(m("round", &[n(1.23e-10), n(12.0)]), 1.23e-10);
        same(m("round", &[n(1.23e-10), n(10.0)]), 1e-10);
        assert_eq!(m("round", &[st("x")]), Value::Null);
    }

    #[test]
    fn base64() {
        assert_eq!(m("base64encode", &[st("}{")]), st("fXs="));
        assert_eq!(
            m("base64encode", &[Value::Null]),
            m("base64encode", &[st("null")])
        );
        assert_eq!(m("base64decode", &[st("fXs=")]), st("}{"));
        assert_eq!(m("base64encode", &[st("héllo")]), st("aMOpbGxv"));
        assert_eq!(m("base64decode", &[st("aMOpbGxv")]), st("héllo"));
        // lenient decoding: no padding, URL-safe alphabet, whitespace
        assert_eq!(m("base64decode", &[st("fXs")]), st("}{"));
        assert_eq!(
            m("base64decode", &[st("-_8=")]),
            m("base64decode", &[st("+/8=")])
        );
        assert_eq!(m("base64decode", &[st("aMOp\nbGxv")]), st("héllo"));
        // other encodings
        assert_eq!(m("base64encode", &[st("é"), st("latin1")]), st("6Q=="));
        assert_eq!(m("base64decode", &[st("6Q=="), st("latin1")]), st("é"));
        assert_eq!(
            m("base64encode", &[st("hi"), st("utf16le")]),
            st("aABpAA==")
        );
        assert_eq!(m("base64decode", &[st("aABpAA=="), st("UCS2")]), st("hi"));
        assert_eq!(m("base64encode", &[st("ff00"), st("hex")]), st("/wA="));
        assert_eq!(m("base64decode", &[st("/wA="), st("hex")]), st("ff00"));
        assert_eq!(m("base64encode", &[st("hi"), Value::Null]), st("aGk="));
        assert_eq!(
            err("math", "base64encode", &[st("hi"), st("klingon")]),
            "TypeError: math:base64encode doesn't recognize the encoding klingon"
        );
    }

    #[test]
    fn hash_algorithms_property() {
        let Some(Value::Array(list)) = property("math", "hashAlgorithms") else {
            panic!("not an array")
        };
        for a in ["md5", "sha1", "sha256", "sha512"] {
            assert!(list.contains(&st(a)), "{a}");
        }
        assert_eq!(m("hashFunctions", &[]), Value::Array(list));
    }

    #[test]
    fn hashes() {
        // the spec's example
        assert_eq!(
            m("hash", &[st("sha256"), st("hello")]),
            st("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
        );
        assert_eq!(
            m("hash", &[st("sha256"), st("hello"), st("base64")]),
            st("LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=")
        );
        assert_eq!(
            m("hash", &[st("sha256"), st("hello"), st("hex")]),
            m("hash", &[st("sha256"), st("hello"), Value::Null])
        );
        assert_eq!(
            m("hash", &[st("md5"), st("hello")]),
            st("5d41402abc4b2a76b9719d911017c592")
        );
        assert_eq!(
            m("hash", &[st("sha1"), st("hello")]),
            st("aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d")
        );
        assert_eq!(
            m("hash", &[st("sha512"), st("")]),
            st(
                "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce\
                47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
            )
        );
        assert_eq!(
            m("hash", &[st("sha256"), Value::Null]),
            m("hash", &[st("sha256"), st("null")])
        );
        assert_eq!(
            m("hash", &[st("sha256"), j("[1,2]")]),
            m("hash", &[st("sha256"), st("[Array]")])
        );
        for a in super::ALGORITHMS {
            assert!(m("hash", &[st(a), st("x")]).as_str().is_some());
            assert!(m("hmac", &[st(a), st("k"), st("x")]).as_str().is_some());
        }
    }

    #[test]
    fn hash_errors() {
        assert_eq!(
            err("math", "hash", &[]),
            "TypeError: math:hash was given null instead of a algorithm string"
        );
        assert_eq!(
            err("math", "hash", &[n(0.0), Value::Null]),
            "TypeError: math:hash was given 0 instead of a algorithm string"
        );
        assert_eq!(
            err("math", "hash", &[st("0"), Value::Null]),
            "math:hash doesn't recognize the hash algorithm 0"
        );
        assert_eq!(
            err("math", "hash", &[st("sha256"), st("x"), st("utf8")]),
            "math:hash encoding must be \"hex\" or \"base64\" but was utf8"
        );
    }

    #[test]
    fn hmacs() {
        // the spec's example
        assert_eq!(
            m("hmac", &[st("sha256"), st("a secret"), st("some message")]),
            st("86de43245b44531ac38b6a6a691996287d932a8dea03bc69b193b90caf48ff53")
        );
        assert_eq!(
            m(
                "hmac",
                &[
                    st("sha256"),
                    st("a secret"),
                    st("some message"),
                    st("base64")
                ]
            ),
            st("ht5DJFtEUxrDi2pqaRmWKH2TKo3qA7xpsZO5DK9I/1M=")
        );
        // RFC 2202 test case 2
        assert_eq!(
            m(
                "hmac",
                &[st("sha1"), st("Jefe"), st("what do ya want for nothing?")]
            ),
            st("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")
        );
        assert_eq!(
            m(
                "hmac",
                &[st("md5"), st("Jefe"), st("what do ya want for nothing?")]
            ),
            st("750c783e6ab0b503eaa86e310a5db738")
        );
        assert_eq!(err("math", "hmac", &[]), "math:hmac needs a key string");
        assert_eq!(
            err("math", "hmac", &[st("sha256"), n(5.0), st("m")]),
            "math:hmac needs a key string"
        );
        assert_eq!(
            err("math", "hmac", &[st("foo"), st(""), st("")]),
            "math:hmac doesn't recognize the hash algorithm foo"
        );
        assert_eq!(
            err("math", "hmac", &[Value::Bool(true), st(""), st("")]),
            "TypeError: math:hmac was given true instead of a algorithm string"
        );
        assert_eq!(
            err("math", "hmac", &[st("md5"), st(""), st(""), st("bin")]),
            "math:hmac encoding must be \"hex\" or \"base64\" but was bin"
        );
    }
}
