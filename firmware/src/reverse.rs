//! Reversing text by characters.
//!
//! "Characters" are Unicode scalar values (`char`), never bytes: `"héllo"`
//! becomes `"olléh"` and an emoji stays whole. The result has exactly as
//! many bytes as the input, so a buffer that held the input holds the
//! output. What `char` reversal does not keep together is a grapheme made
//! of several scalars: a letter with a *combining* accent (`e` + U+0301),
//! a flag (two regional indicators), a ZWJ emoji family. Keeping those
//! would need Unicode segmentation tables on the device and would break
//! `reverse(reverse(s)) == s`; the reference firmware reversed bytes, which
//! broke every non-ASCII character.

use heapless::String;

use crate::json::Overflow;

/// Append the characters of `s` to `out`, last first.
pub fn reverse_into<const N: usize>(s: &str, out: &mut String<N>) -> Result<(), Overflow> {
    for c in s.chars().rev() {
        out.push(c).map_err(|_| Overflow)?;
    }
    Ok(())
}

/// `s` reversed by characters, in a new buffer.
pub fn reversed<const N: usize>(s: &str) -> Result<String<N>, Overflow> {
    let mut out = String::new();
    reverse_into(s, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(s: &str) -> String<640> {
        reversed(s).unwrap()
    }

    #[test]
    fn ascii() {
        assert_eq!(rev("").as_str(), "");
        assert_eq!(rev("a").as_str(), "a");
        assert_eq!(
            rev("Oozy rat in a sanitary zoo.").as_str(),
            ".ooz yratinas a ni tar yzoO"
        );
        assert_eq!(rev("'RacecaR").as_str(), "RacecaR'");
    }

    #[test]
    fn accents_emoji_cjk() {
        assert_eq!(rev("héllo").as_str(), "olléh");
        assert_eq!(rev("Ça va? Ñandú").as_str(), "údnaÑ ?av aÇ");
        assert_eq!(rev("hi 👋🌍!").as_str(), "!🌍👋 ih");
        assert_eq!(rev("世界你好").as_str(), "好你界世");
        assert_eq!(rev("日本語とEnglish").as_str(), "hsilgnEと語本日");
        assert_eq!(rev("Привет").as_str(), "тевирП");
        // Byte length is unchanged.
        for s in ["héllo", "👋🌍", "世界", "a\r\nb"] {
            assert_eq!(rev(s).len(), s.len());
        }
    }

    #[test]
    fn multi_scalar_graphemes_are_reversed_by_scalar() {
        // Documented limitation: a combining accent moves to the other side.
        assert_eq!(rev("e\u{301}x").as_str(), "x\u{301}e");
        // And reversing twice gives the input back all the same.
        assert_eq!(rev(rev("e\u{301}x").as_str()).as_str(), "e\u{301}x");
    }

    #[test]
    fn overflow_is_an_error() {
        assert_eq!(reversed::<3>("abcd"), Err(Overflow));
        // A 4-byte character does not fit in 3 bytes.
        assert_eq!(reversed::<3>("😀"), Err(Overflow));
        assert_eq!(reversed::<4>("😀").unwrap().as_str(), "😀");
    }
}
