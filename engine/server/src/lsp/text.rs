//! Byte offsets (the AST's spans) to and from LSP positions (lines and
//! UTF-16 columns, the protocol's default encoding).

use krl_lang::syntax::ast::Span;
use lsp_types::{Position, Range};

/// Where each line starts.
#[derive(Clone, Debug, Default)]
pub struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    /// Lines of `src`.
    pub fn new(src: &str) -> Lines {
        let mut starts = vec![0];
        starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        Lines { starts }
    }

    /// The position of byte `at`.
    pub fn position(&self, src: &str, at: usize) -> Position {
        let at = at.min(src.len());
        let line = self.starts.partition_point(|&s| s <= at) - 1;
        let start = self.starts[line];
        let col = src.get(start..at).map_or(0, |t| t.encode_utf16().count());
        Position::new(line as u32, col as u32)
    }

    /// The byte at `pos` (clamped to its line).
    pub fn offset(&self, src: &str, pos: Position) -> usize {
        let Some(&start) = self.starts.get(pos.line as usize) else {
            return src.len();
        };
        let mut units = 0;
        for (i, c) in src[start..].char_indices() {
            if units >= pos.character as usize || c == '\n' {
                return start + i;
            }
            units += c.len_utf16();
        }
        src.len()
    }

    /// The range of `span`.
    pub fn range(&self, src: &str, span: Span) -> Range {
        Range::new(
            self.position(src, span.start as usize),
            self.position(src, span.end as usize),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_columns_both_ways() {
        // `é` is one UTF-16 unit (two bytes), `𝄞` two units (four bytes)
        let src = "ab\né𝄞x\n";
        let l = Lines::new(src);
        let x = src.find('x').unwrap();
        assert_eq!(l.position(src, x), Position::new(1, 3));
        assert_eq!(l.offset(src, Position::new(1, 3)), x);
        assert_eq!(l.offset(src, Position::new(1, 99)), src.len() - 1);
        assert_eq!(l.offset(src, Position::new(9, 0)), src.len());
        assert_eq!(l.position(src, src.len()), Position::new(2, 0));
    }
}
