//! `krl`: the KRL rules engine's server and command line. The language
//! itself (syntax, checks, evaluation) is in `krl-lang`; this crate gives
//! it storage, picos, HTTP and a command line.
//!
//! # Layers
//!
//! From lowest to highest; a module names only modules of its own layer
//! or lower, and no two modules name each other (checked by a module
//! graph of `crate::`/`super::` paths, see docs/server.md):
//!
//! 1. [`ids`], [`clock`] — id newtypes and random ids; the engine's clock
//!    (`--clock`). Leaves beside them, naming nothing of this crate:
//!    [`policy`] (channel policies), [`outbound`] (reqwest for KRL's
//!    `http:`), [`twilio::signature`], [`twilio::twiml`], [`mqtt::url`],
//!    [`mqtt::broker`] (the embedded broker).
//! 2. [`store`] — the only code that names sled: keys, records, write
//!    buffers applied as one batch, group commit.
//! 3. [`rulesets`], [`schedule`] — registered rulesets; scheduled events.
//!    Here too the integrations' state that rules write through the host:
//!    [`mqtt`] (the `Mqtt` handle, with [`mqtt::queue`], [`mqtt::subs`],
//!    [`mqtt::tls`]), [`twilio::outbox`] (outbox entries), [`statics`]
//!    (the static folder and its fingerprints).
//! 4. [`host`] — the evaluator's view of the world (`krl_lang::engine::Host`)
//!    over the store and a write buffer.
//! 5. [`pico`] — a tokio task and mailbox per pico running the evaluator.
//! 6. [`error`] — `EngineError`, and `ApiError`: every route's failure
//!    answer (status and `{"error"}`).
//! 7. [`dispatch`] — `Dispatch`, the cheap handle on the running picos:
//!    pico tasks by id, events and queries through a channel and its
//!    policy, delivery of the events rules send.
//! 8. Integrations, each with its own router and state, reaching picos
//!    only through `Dispatch`: [`twilio`] (the Sky routes' guard and TwiML
//!    answers), [`twilio::admin`], [`twilio::sender`] (the outbox's sender
//!    task); [`mqtt::client`] (the connection task), [`mqtt::admin`];
//!    [`statics::routes`].
//! 9. [`engine`] — the facade: shared state and settings, the operations
//!    behind the routes (`engine::ops`), start-up wiring (`engine::open`).
//! 10. [`http`] — the contract's routes (admin API, Sky), with the
//!     integrations' routers merged in.
//! 11. [`serve`], [`client`], [`phone`] — `krl serve`; the CLI's HTTP
//!     clients (`krl ruleset register`, `krl event`, ...); `krl call` and
//!     `krl sms`.
//!
//! One exception is left: `host.rs` still names `crate::pico::now_ms`
//! (host → pico, upward), because host.rs is being changed elsewhere; it
//! should name `crate::clock::now_ms`.
//!
//! docs/server.md tells the story: flags, the data folder, what is stored
//! where, group commit, the CLI.

#![warn(missing_docs)]

pub mod client;
pub mod clock;
pub mod dispatch;
pub mod engine;
pub mod error;
pub mod host;
pub mod http;
pub mod ids;
pub mod mqtt;
pub mod outbound;
pub mod phone;
pub mod pico;
pub mod policy;
pub mod rulesets;
pub mod schedule;
pub mod serve;
pub mod statics;
pub mod store;
pub mod twilio;
