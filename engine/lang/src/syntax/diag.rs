//! Diagnostics: an error or warning at a span, and its rendering as
//! `file:line:col`, the source line and a caret. Line and column are
//! computed here, from a [`LineIndex`], only when something is reported.

use super::ast::Span;
use serde::Serialize;
use std::fmt::Write as _;

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The ruleset is rejected.
    Error,
    /// Accepted; something deserves attention (a classic construct, say).
    Warning,
}

/// One message about one place in a ruleset's source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, in plain words, lowercase.
    pub message: String,
    /// Where.
    pub span: Span,
}

impl Diagnostic {
    /// An error at `span`.
    #[cold]
    pub fn error(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            span,
        }
    }

    /// A warning at `span`.
    #[cold]
    pub fn warning(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            message: message.into(),
            span,
        }
    }

    /// Is this an error (as opposed to a warning)?
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Renders as
    ///
    /// ```text
    /// file.krl:3:12: error: expected an expression
    ///    3 |   x = 1 + }
    ///      |           ^
    /// ```
    pub fn render(&self, file: &str, src: &str) -> String {
        let index = LineIndex::new(src);
        let (line, col) = index.line_col(src, self.span.start as usize);
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut out = format!("{file}:{line}:{col}: {kind}: {}\n", self.message);
        let text = index.line_text(src, line);
        let gutter = line.to_string().len().max(3);
        let _ = writeln!(out, "{line:>gutter$} | {text}");
        // The caret line copies tabs from the source so it stays aligned.
        let pad: String = text
            .chars()
            .take(col - 1)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let end = (self.span.end as usize).min(index.line_end(src, line));
        let width = if end > self.span.start as usize {
            src[self.span.start as usize..end].chars().count().max(1)
        } else {
            1
        };
        let _ = writeln!(out, "{:>gutter$} | {pad}{}", "", "^".repeat(width));
        out
    }
}

/// Byte offsets of line starts, to turn a byte offset into line and column.
#[derive(Clone, Debug)]
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    /// Indexes `src`.
    pub fn new(src: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    /// 1-based line and column (in characters) of byte offset `at`.
    pub fn line_col(&self, src: &str, at: usize) -> (usize, usize) {
        let at = at.min(src.len());
        let line = self.starts.partition_point(|&s| s <= at);
        let start = self.starts[line - 1];
        let col = src.get(start..at).map_or(at - start, |s| s.chars().count()) + 1;
        (line, col)
    }

    /// The text of 1-based `line`, without its line break.
    pub fn line_text<'s>(&self, src: &'s str, line: usize) -> &'s str {
        let start = self.starts[line - 1];
        &src[start..self.line_end(src, line)]
    }

    /// Byte offset of the end of 1-based `line` (before `\r\n` or `\n`).
    pub fn line_end(&self, src: &str, line: usize) -> usize {
        let mut end = self.starts.get(line).map_or(src.len(), |&s| s - 1);
        if end > self.starts[line - 1] && src.as_bytes().get(end - 1) == Some(&b'\r') {
            end -= 1;
        }
        end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_characters() {
        let src = "ab\nçd\n\nx";
        let index = LineIndex::new(src);
        assert_eq!(index.line_col(src, 0), (1, 1));
        assert_eq!(index.line_col(src, 3), (2, 1));
        assert_eq!(index.line_col(src, 5), (2, 2)); // after the two-byte ç
        assert_eq!(index.line_col(src, 7), (3, 1));
        assert_eq!(index.line_col(src, 8), (4, 1));
        assert_eq!(index.line_col(src, 99), (4, 2));
    }

    #[test]
    fn render_points_at_the_span() {
        let src = "ruleset a {\n\trule r { x }\n}";
        let d = Diagnostic::error(Span::new(21, 22), "expected `select`");
        let text = d.render("a.krl", src);
        assert_eq!(
            text,
            "a.krl:2:10: error: expected `select`\n  2 | \trule r { x }\n    | \t        ^\n"
        );
    }
}
