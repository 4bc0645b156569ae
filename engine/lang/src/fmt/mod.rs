//! `krl fmt`: one canonical layout for KRL source (docs/fmt.md).
//!
//! The formatter changes layout only: it prints every token of the
//! source, in order, as written (keywords, punctuation, optional `;` and
//! `,`, string and regex literals verbatim), and chooses only the
//! whitespace between them. So classic and modern forms stay as they are
//! and the AST (without spans) cannot change. Structure comes from the
//! grammar's parse tree (the pest pairs, not the AST, which lowers
//! classic forms); comments, which the grammar skips, are recovered from
//! the source text between two printed tokens and printed where they were
//! (on their own line, or at the end of the line they ended).
//!
//! Layout: `out` (the output, indentation, comments, blank lines) and
//! `print` (what each grammar rule looks like). Uses `syntax` only.

mod out;
mod print;

use crate::syntax::grammar::{KrlParser, Rule as R};
use crate::syntax::{parse_ruleset, Diagnostic, STACK_RED_ZONE, STACK_SIZE};
use pest::Parser as _;

/// Formats one ruleset. A source that does not parse gives its syntax
/// error (the one `krl check` reports) and is not formatted.
pub fn format(src: &str) -> Result<String, Diagnostic> {
    // the parse bounds nesting and chains, and reports errors in words
    parse_ruleset(src)?;
    Ok(stacker::maybe_grow(STACK_RED_ZONE, STACK_SIZE, || {
        let file = KrlParser::parse(R::file, src)
            .expect("parse_ruleset accepted it")
            .next()
            .expect("the file rule yields one pair");
        let ruleset = file.into_inner().next().expect("one ruleset");
        let mut p = print::Printer::new(src);
        p.node(ruleset);
        p.finish()
    }))
}

/// Whether `src` is already formatted (a source that does not parse is
/// an error).
pub fn is_formatted(src: &str) -> Result<bool, Diagnostic> {
    Ok(format(src)? == src)
}

#[cfg(test)]
mod tests;
