//! The pest parser generated from `grammar/krl.pest`. Its `Rule` enum is
//! imported elsewhere as `R`, so it never clashes with `ast::Rule`.

#![allow(missing_docs)]

#[derive(pest_derive::Parser)]
#[grammar = "../../grammar/krl.pest"]
pub(crate) struct KrlParser;
