//! `krl`: the KRL rules engine's server and command line. The language
//! itself (syntax, checks, evaluation) is in `krl-lang`; this crate gives
//! it storage, picos, HTTP and a command line.
//!
//! # Layout
//!
//! Lower modules never name higher ones:
//!
//! * [`ids`] — newtypes for ids (`PicoId`, `Eci`, `Rid`, `Eid`, `TxnId`)
//!   and random id generation.
//! * [`store`] — the only code that names sled: key encoding, records,
//!   write buffers applied as one batch, group commit.
//! * [`policy`] — channel policies (allow/deny of events and queries).
//! * [`rulesets`] — registered rulesets, parsed and checked once.
//! * [`host`] — the evaluator's view of the world (`krl_lang::engine::Host`)
//!   over the store and a write buffer.
//! * [`schedule`] — scheduled events: stored entries to timers (cron).
//! * [`outbound`] — outbound HTTP for KRL's `http:` module (reqwest).
//! * [`pico`] — a tokio task and mailbox per pico running the evaluator.
//! * [`engine`] — shared state and the operations behind the routes.
//! * [`twilio`] — the TwiML reply and `X-Twilio-Signature` checks (its
//!   `twiml` and `signature` name nothing of this crate; `pico` uses
//!   `twilio::twiml` for the verbs of an answer, `http` the rest).
//! * [`mqtt`] — the embedded broker, the engine's MQTT connection, the
//!   durable publish queue, subscriptions as `mqtt message` events.
//! * [`http`] — axum routes of the contract; errors → statuses.
//! * [`serve`] — `krl serve`: start-up lines, signals, drain, flush.
//! * [`client`] — `krl ruleset register`, `krl event`, ...: HTTP clients.
//!
//! docs/server.md tells the story: flags, the data folder, what is stored
//! where, group commit, the CLI.

#![warn(missing_docs)]

pub mod client;
pub mod engine;
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
