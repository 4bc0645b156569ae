//! `krl-lang`: the KRL language without I/O — syntax (grammar, AST,
//! diagnostics) and static checks. Builds without tokio, sled or axum.
//!
//! # Layout
//!
//! * [`syntax`] — pest grammar → typed AST with spans; syntax errors.
//! * [`check`] — compile-time checks over the AST (krl-language.md 3.6).
//! * [`library`] — names of library functions, actions and modules.
//! * [`runtime`] — values, the standard library, evaluation.
//! * [`twiml_attrs`] — the attributes of the `twilio:` verbs and their values.
//! * [`twiml_xml`] — well-formedness of `twilio:raw_response` XML.

#![warn(missing_docs)]

// The pest parser, derived without pest's `std` feature (see the workspace
// Cargo.toml), refers to `crate::alloc`.
extern crate alloc;

pub mod check;
pub mod engine;
pub mod library;
pub mod runtime;
pub mod syntax;
pub mod twiml_attrs;
pub mod twiml_xml;
