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
//!    `http:`), [`trace`] (the live trace's hub), [`durable`] (`fdatasync`
//!    of the data folder after each group commit, `--durability`).
//! 2. [`store`] — the only code that names sled: keys, records, write
//!    buffers applied as one batch, group commit. Above it,
//!    [`idempotency`]: the `Idempotency-Key` records a pico writes with an
//!    event and replays.
//! 3. [`rulesets`], [`schedule`] — registered rulesets; scheduled events.
//!    [`channel`] (channels in the Pico Engine's shape: cleaned tags,
//!    `eventPolicy`/`queryPolicy`) and [`family`] (the pico tree and its
//!    family channels, written under one short lock) beside them.
//! 4. [`effects`] — what an evaluation needs from the integrations, as
//!    narrow traits the host and the pico hold as trait objects
//!    ([`effects::TwilioOutbox`], [`effects::StaticUrls`],
//!    [`effects::MqttQueue`], [`effects::PicoCalls`] for `ctx:`'s calls
//!    to other picos), and the plain data a commit hands them
//!    ([`effects::MqttChanges`]). The integrations implement them;
//!    `engine::open` plugs them in.
//! 5. [`host`] — the evaluator's view of the world (`krl_lang::engine::Host`)
//!    over the store and a write buffer.
//! 6. [`pico`] — a tokio task and mailbox per pico running the evaluator.
//! 7. [`error`] — `EngineError`, and `ApiError`: every route's failure
//!    answer (status and `{"error"}`).
//! 8. [`dispatch`] — `Dispatch`, the cheap handle on the running picos:
//!    pico tasks by id, events and queries through a channel and its
//!    policy, delivery of the events rules send.
//! 9. Integrations, each a folder wholly above `dispatch` (nothing below
//!    names it), with its own router and state, reaching picos only
//!    through `Dispatch`: [`twilio`] (the Sky routes' guard and TwiML
//!    answers, [`twilio::outbox`], [`twilio::sender`], [`twilio::admin`];
//!    [`twilio::signature`] and [`twilio::twiml`] name nothing of this
//!    crate), [`mqtt`] (the `Mqtt` handle, [`mqtt::queue`],
//!    [`mqtt::subs`], [`mqtt::client`], [`mqtt::admin`]; [`mqtt::url`]
//!    and [`mqtt::broker`], the embedded broker, name nothing of this
//!    crate, [`mqtt::tls`] only `mqtt::url`), [`statics`] (the static
//!    folder and its fingerprints, [`statics::routes`]).
//! 10. [`engine`] — the facade: shared state and settings, the operations
//!     behind the routes (`engine::ops`), start-up wiring (`engine::open`).
//! 11. [`console`] — the developer console at `/ui/`: embedded pages and
//!     the admin routes only it needs (the pico tree, checks, the trace
//!     stream, entity variables, the phone's signatures).
//! 12. [`http`] — the contract's routes (admin API, Sky), with the
//!     integrations' routers and the console merged in, and the login
//!     (admin token by cookie).
//! 13. [`serve`], [`client`], [`phone`] — `krl serve`; the CLI's HTTP
//!     clients (`krl ruleset register`, `krl event`, ...); `krl call` and
//!     `krl sms`. Above [`client`]: [`commands`], the listings (`krl pico
//!     list`, `krl ruleset list`), `-o FIELD`, and failures explained;
//!     [`fmt`] and [`lsp`], `krl fmt` and `krl lsp` over `krl-lang`.
//!
//! docs/server.md tells the story: flags, the data folder, what is stored
//! where, group commit, the CLI.

#![warn(missing_docs)]

pub mod channel;
pub mod client;
pub mod clock;
pub mod cluster;
pub mod commands;
pub mod console;
pub mod dispatch;
pub mod durable;
pub mod effects;
pub mod engine;
pub mod error;
pub mod family;
pub mod fmt;
pub mod host;
pub mod http;
pub mod idempotency;
pub mod ids;
pub mod lsp;
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
pub mod trace;
pub mod twilio;
