//! `krl-lang`: the KRL language without I/O — syntax, compilation,
//! evaluation and the native modules. Builds without tokio, sled or axum;
//! the integrations' language halves (`twilio`, `mqtt`, `http`) are cargo
//! features, on by default.
//!
//! # Layers
//!
//! Lowest first; a module uses only those above it in this list
//! (docs/layout.md draws them; `krl-layers` checks there is no cycle):
//!
//! * [`syntax`] — pest grammar → typed AST with spans; syntax errors.
//! * [`fmt`] — `krl fmt`: the canonical layout, over the grammar's parse
//!   tree, comments kept.
//! * [`runtime`] — values, runtime errors, regexes (linear or
//!   step-bounded), the standard library's functions, event-expression
//!   state machines.
//! * [`host`] — what an evaluation sees of the world: the core [`host::Host`]
//!   and the integrations' traits; events and directives.
//! * [`native`] — the native-module registry's types ([`native::Module`],
//!   [`native::Member`], [`native::Registry`], [`native::NativeCx`]).
//! * [`compile`] — AST → IR in one pass over the registry: names resolved
//!   once, diagnostics collected; the lints ([`compile::check`]).
//! * [`eval`] — the evaluator over the IR (expressions, actions, postlude).
//! * [`modules`] — the native modules and the default registry.
//! * [`engine`] — the facade: [`engine::compile`], installed instances and
//!   the pico runtime that processes events and queries.

#![warn(missing_docs)]

// The pest parser, derived without pest's `std` feature (see the workspace
// Cargo.toml), refers to `crate::alloc`.
extern crate alloc;

pub mod compile;
pub mod engine;
pub mod eval;
pub mod fmt;
pub mod host;
pub mod modules;
pub mod native;
pub mod runtime;
pub mod syntax;
