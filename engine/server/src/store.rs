//! The store: the only code that names sled. Uses: sled, serde,
//! serde_json, tokio (for the group-commit flusher), `ids`.
//!
//! # Layout
//!
//! One sled database under `--data DIR`, one tree (`krl`) holding
//! everything, so that any set of writes (one event's entity variables,
//! rule states and schedules; a pico and all it owns on delete) goes in as
//! ONE `apply_batch`, which sled applies atomically. Keys are a tag byte
//! followed by the key's parts, each escaped and terminated (see [`Key`]).
//! Values are JSON.
//!
//! | tag | parts | value |
//! | --- | --- | --- |
//! | `M` | name | engine meta ([`EngineMeta`] under `root`, the format under `format`, the MQTT client id under `mqtt_client_id`) |
//! | `R` | rid | [`RulesetRecord`] |
//! | `P` | pico id | [`PicoRecord`]: name, parent, channels but its children's family channels (and, in folders written before the `H` keys, its children in order, and their family channels among its channels) |
//! | `H` | parent pico id, seq, child pico id | a child: its family channel on the parent (the child's `parent_eci`, not in the parent's record); seq (20 digits) orders a parent's children by creation |
//! | `I` | pico id | installs, `[InstallRecord]` in install order |
//! | `C` | eci | [`ChannelRecord`]: pico, tags, policy, twilio auth token |
//! | `E` | pico id, rid, name | an entity variable (JSON), or the one byte `0x00` for a map kept by entry (`host::ent`) |
//! | `E` | pico id, rid, name, key | an entry of a map kept by entry: `[seq, value]`, seq giving the insertion order |
//! | `S` | pico id, rid, rule | a rule's state (e.g. a partly matched `select when`) |
//! | `T` | pico id, rid, schedule id | a scheduled event |
//! | `A` | rid, name | an app variable |
//! | `O` | outbox id | a Twilio REST request and its state (`twilio::outbox::Entry`; holds credentials) |
//! | `V` | pico id, rid, CallSid, name | a call session variable (`session:name`) |
//! | `W` | pico id, CallSid | a call session: [`SessionRecord`] (expiry, the rids that wrote) |
//! | `Q` | queue id | an `mqtt:publish` waiting for the broker (`effects::QueuedPublish`) |
//! | `B` | pico id, topic filter | a pico's MQTT subscription (`mqtt::subs::SubRecord`) |
//! | `D` | message seq, pico id | an MQTT delivery mark: the pico committed that message's event (`mqtt::client`) |
//! | `F` | pico id | never stored: removed in a batch to fence it on the pico's shard ([`Key::fence`]) |
//! | `K` | pico id, key | an idempotency key the pico processed, its expiry and the event's answer (`idempotency::Record`) |
//!
//! The admin token is not stored: it is given at start or generated then
//! (see `serve`).
//!
//! # Durability: group commit
//!
//! [`Store::apply`] puts a [`WriteBuf`] in as one batch (in sled's memory
//! and log buffer). [`Store::flush_ticket`] then registers the writer with
//! the shared flusher (a thread of its own for sled), and
//! [`FlushTicket::wait`] resolves once a flush that *started after the
//! registration* has finished: the
//! flusher takes every waiter registered so far, flushes once, and wakes
//! them all. Concurrent events therefore share one fsync; a lone event
//! pays for one.
//!
//! sled 0.34's flush alone ends with `sync_file_range`, which does not
//! reach stable storage. With [`Durability::Full`] (the default) krl's
//! sled (vendor/sled/KRL-PATCH.md) ends each log write with `fdatasync`
//! and syncs new blob and snapshot files with their folder, and the first
//! flush is followed by [`DirSync::sync`] (every file and the folder, as
//! sled made them at start-up), so an answered event survives a power
//! cut. [`Durability::Relaxed`] (`--durability relaxed`) skips both.

use crate::durable::{DirSync, Durability};
use crate::ids::{Eci, PicoId, Rid};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Once, Weak};
use tokio::sync::{oneshot, Notify};

pub mod pg;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the database's lock.
    #[error(
        "the data folder {} is in use by another `krl serve` (its lock is held); \
         stop that one or choose another --data",
        path.display()
    )]
    Locked {
        /// The data folder.
        path: PathBuf,
    },
    /// sled failed (I/O, corruption).
    #[error("database error: {0}")]
    Sled(#[from] sled::Error),
    /// A stored value does not decode.
    #[error("stored record {key} is not valid JSON for its kind: {source}")]
    Corrupt {
        /// The key, rendered.
        key: String,
        /// The decoding error.
        source: serde_json::Error,
    },
    /// The group flush failed; the writes may not be on disk.
    #[error("could not flush the database to disk: {0}")]
    Flush(String),
    /// PostgreSQL failed (connection, statement).
    #[error("database error: {0}")]
    Backend(String),
}

/// Results of the store.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Tag bytes: the first byte of every key.
mod tag {
    pub const META: u8 = b'M';
    pub const RULESET: u8 = b'R';
    pub const PICO: u8 = b'P';
    pub const INSTALLS: u8 = b'I';
    pub const CHANNEL: u8 = b'C';
    pub const ENTITY: u8 = b'E';
    pub const RULE_STATE: u8 = b'S';
    pub const SCHEDULE: u8 = b'T';
    pub const APP: u8 = b'A';
    pub const OUTBOX: u8 = b'O';
    pub const SESSION_VAR: u8 = b'V';
    pub const SESSION: u8 = b'W';
    pub const IDEMPOTENCY: u8 = b'K';
    pub const CHILD: u8 = b'H';
    pub const FENCE: u8 = b'F';
    pub const INBOX: u8 = b'N';
}

/// The database cache's default size in MiB (`krl serve --cache-mb`):
/// sled's own default is 1 GiB, too much for a small box and more than
/// an engine of a million picos needs (docs/performance.md, "A million
/// picos").
pub const DEFAULT_CACHE_MB: u64 = 256;

/// The current key/value format, stored under `M format`.
const FORMAT: u32 = 1;

/// A key of the `krl` tree.
///
/// Encoding: the tag byte, then each part's bytes with `0x00` written as
/// `0x01 0x01` and `0x01` as `0x01 0x02`, followed by a `0x00` terminator.
/// The escape keeps byte order (so keys sort by their parts), and since a
/// part can never contain a bare `0x00`, the key of the first parts is a
/// prefix of exactly the keys that start with those same whole parts
/// (`E pico1` does not match `E pico10 ...`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(Vec<u8>);

impl Key {
    fn build(tag: u8, parts: &[&str]) -> Key {
        let len = 1 + parts.iter().map(|p| p.len() + 1).sum::<usize>();
        let mut out = Vec::with_capacity(len);
        out.push(tag);
        for part in parts {
            let bytes = part.as_bytes();
            if !bytes.iter().any(|&b| b < 2) {
                // The usual case, copied whole.
                out.extend_from_slice(bytes);
            } else {
                for &b in bytes {
                    match b {
                        0 => out.extend_from_slice(&[1, 1]),
                        1 => out.extend_from_slice(&[1, 2]),
                        b => out.push(b),
                    }
                }
            }
            out.push(0);
        }
        Key(out)
    }

    /// The tag and the parts of an encoded key; `None` if it is not one.
    pub fn decode(bytes: &[u8]) -> Option<(u8, Vec<String>)> {
        let (&tag, mut rest) = bytes.split_first()?;
        let mut parts = Vec::new();
        while !rest.is_empty() {
            let mut part = Vec::new();
            loop {
                let (&b, tail) = rest.split_first()?;
                rest = tail;
                match b {
                    0 => break,
                    1 => {
                        let (&e, tail) = rest.split_first()?;
                        rest = tail;
                        part.push(match e {
                            1 => 0,
                            2 => 1,
                            _ => return None,
                        });
                    }
                    b => part.push(b),
                }
            }
            parts.push(String::from_utf8(part).ok()?);
        }
        Some((tag, parts))
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Engine meta `name`.
    pub fn meta(name: &str) -> Key {
        Key::build(tag::META, &[name])
    }
    /// A registered ruleset.
    pub fn ruleset(rid: &Rid) -> Key {
        Key::build(tag::RULESET, &[rid.as_str()])
    }
    /// Prefix of all rulesets.
    pub fn rulesets() -> Key {
        Key::build(tag::RULESET, &[])
    }
    /// A pico's record.
    pub fn pico(id: &PicoId) -> Key {
        Key::build(tag::PICO, &[id.as_str()])
    }
    /// A pico's installed rulesets.
    pub fn installs(id: &PicoId) -> Key {
        Key::build(tag::INSTALLS, &[id.as_str()])
    }
    /// A channel.
    pub fn channel(eci: &Eci) -> Key {
        Key::build(tag::CHANNEL, &[eci.as_str()])
    }
    /// Prefix of all channels.
    pub fn channels() -> Key {
        Key::build(tag::CHANNEL, &[])
    }
    /// A child of `parent`, `seq`-th made (creation order).
    pub fn child(parent: &PicoId, seq: u64, child: &PicoId) -> Key {
        Key::build(
            tag::CHILD,
            &[parent.as_str(), &format!("{seq:020}"), child.as_str()],
        )
    }
    /// Prefix of a pico's children (`H` keys), in creation order.
    pub fn children(parent: &PicoId) -> Key {
        Key::build(tag::CHILD, &[parent.as_str()])
    }
    /// The seq and the child of a child key ([`Key::child`]).
    pub fn child_parts(&self) -> Option<(u64, PicoId)> {
        match Key::decode(&self.0) {
            Some((tag::CHILD, parts)) if parts.len() == 3 => {
                Some((parts[1].parse().ok()?, PicoId::new(parts[2].clone())))
            }
            _ => None,
        }
    }
    /// Prefix of all pico records.
    pub fn picos() -> Key {
        Key::build(tag::PICO, &[])
    }
    /// An entity variable; also the prefix of its entries when it is a
    /// map kept by entry ([`Key::entity_entry`]).
    pub fn entity(pico: &PicoId, rid: &(impl AsRef<str> + ?Sized), name: &str) -> Key {
        Key::build(tag::ENTITY, &[pico.as_str(), rid.as_ref(), name])
    }
    /// Entry `key` of entity map `name` kept by entry (see `host::ent`).
    pub fn entity_entry(
        pico: &PicoId,
        rid: &(impl AsRef<str> + ?Sized),
        name: &str,
        key: &str,
    ) -> Key {
        Key::build(tag::ENTITY, &[pico.as_str(), rid.as_ref(), name, key])
    }
    /// Is this an entity variable's key (or one of its entries)?
    pub fn is_entity(&self) -> bool {
        self.0.first() == Some(&tag::ENTITY)
    }
    /// A rule's state.
    pub fn rule_state(pico: &PicoId, rid: &(impl AsRef<str> + ?Sized), rule: &str) -> Key {
        Key::build(tag::RULE_STATE, &[pico.as_str(), rid.as_ref(), rule])
    }
    /// A scheduled event.
    pub fn schedule(pico: &PicoId, rid: &(impl AsRef<str> + ?Sized), id: &str) -> Key {
        Key::build(tag::SCHEDULE, &[pico.as_str(), rid.as_ref(), id])
    }
    /// Prefix of a pico's schedules.
    pub fn schedules(pico: &PicoId) -> Key {
        Key::build(tag::SCHEDULE, &[pico.as_str()])
    }
    /// Prefix of the schedules of one ruleset on a pico.
    pub fn ruleset_schedules(pico: &PicoId, rid: &(impl AsRef<str> + ?Sized)) -> Key {
        Key::build(tag::SCHEDULE, &[pico.as_str(), rid.as_ref()])
    }
    /// Pico `id`'s fence: never stored. A batch that removes it (a no-op)
    /// is fenced on the pico's shard in a cluster (`store::pg`), like one
    /// that writes the pico's own keys: for writes of engine-wide keys
    /// that only the pico's node may make (its Twilio outbox entries).
    pub fn fence(id: &PicoId) -> Key {
        Key::build(tag::FENCE, &[id.as_str()])
    }
    /// An event a rule sent to a pico of another node of a cluster,
    /// stored with the sender's event (`pico::InboxRow`).
    pub fn inbox(key: &str) -> Key {
        Key::build(tag::INBOX, &[key])
    }
    /// Prefix of every stored sent event.
    pub fn inboxes() -> Key {
        Key::build(tag::INBOX, &[])
    }
    /// A Twilio outbox entry.
    pub fn outbox(id: &str) -> Key {
        Key::build(tag::OUTBOX, &[id])
    }
    /// Prefix of all Twilio outbox entries.
    pub fn outboxes() -> Key {
        Key::build(tag::OUTBOX, &[])
    }
    /// An app variable.
    pub fn app(rid: &(impl AsRef<str> + ?Sized), name: &str) -> Key {
        Key::build(tag::APP, &[rid.as_ref(), name])
    }
    /// A call session variable: one ruleset on one pico, one call.
    pub fn session_var(
        pico: &PicoId,
        rid: &(impl AsRef<str> + ?Sized),
        call_sid: &str,
        name: &str,
    ) -> Key {
        Key::build(
            tag::SESSION_VAR,
            &[pico.as_str(), rid.as_ref(), call_sid, name],
        )
    }
    /// Prefix of one ruleset's variables of one call on a pico.
    pub fn session_vars(pico: &PicoId, rid: &(impl AsRef<str> + ?Sized), call_sid: &str) -> Key {
        Key::build(tag::SESSION_VAR, &[pico.as_str(), rid.as_ref(), call_sid])
    }
    /// A call session's record ([`SessionRecord`]).
    pub fn session(pico: &PicoId, call_sid: &str) -> Key {
        Key::build(tag::SESSION, &[pico.as_str(), call_sid])
    }
    /// Prefix of a pico's call session records.
    pub fn sessions(pico: &PicoId) -> Key {
        Key::build(tag::SESSION, &[pico.as_str()])
    }
    /// Prefixes of everything a pico's rulesets keep (entity variables,
    /// rule states, schedules, call sessions) and its idempotency keys.
    pub fn pico_state(pico: &PicoId) -> [Key; 6] {
        [
            tag::ENTITY,
            tag::RULE_STATE,
            tag::SCHEDULE,
            tag::SESSION_VAR,
            tag::SESSION,
            tag::IDEMPOTENCY,
        ]
        .map(|t| Key::build(t, &[pico.as_str()]))
    }
    /// An idempotency key `pico` processed (`idempotency`).
    pub fn idempotency(pico: &PicoId, key: &str) -> Key {
        Key::build(tag::IDEMPOTENCY, &[pico.as_str(), key])
    }
    /// Prefix of every idempotency key.
    pub fn idempotency_all() -> Key {
        Key::build(tag::IDEMPOTENCY, &[])
    }
    /// Prefixes of what one ruleset keeps on one pico (its call session
    /// variables too; the session records stay until their call ends).
    pub fn pico_ruleset_state(pico: &PicoId, rid: &Rid) -> [Key; 4] {
        [
            tag::ENTITY,
            tag::RULE_STATE,
            tag::SCHEDULE,
            tag::SESSION_VAR,
        ]
        .map(|t| Key::build(t, &[pico.as_str(), rid.as_str()]))
    }

    fn render(&self) -> String {
        match Key::decode(&self.0) {
            Some((t, parts)) => format!("{} {}", t as char, parts.join("/")),
            None => format!("{:?}", self.0),
        }
    }
}

/// MQTT's keys (`mqtt`, docs/mqtt.md): `Q id` a queued publish, `B pico
/// filter` a subscription, `D seq pico` a delivery mark (the pico
/// committed that message's event; gone once it is acknowledged).
impl Key {
    const MQTT_QUEUE: u8 = b'Q';
    const MQTT_SUB: u8 = b'B';
    const MQTT_MARK: u8 = b'D';

    /// A queued `mqtt:publish`.
    pub fn mqtt_queue(id: &str) -> Key {
        Key::build(Key::MQTT_QUEUE, &[id])
    }
    /// Prefix of the whole MQTT queue.
    pub fn mqtt_queue_all() -> Key {
        Key::build(Key::MQTT_QUEUE, &[])
    }
    /// A pico's subscription to a topic filter.
    pub fn mqtt_sub(pico: &PicoId, filter: &str) -> Key {
        Key::build(Key::MQTT_SUB, &[pico.as_str(), filter])
    }
    /// Prefix of a pico's subscriptions.
    pub fn mqtt_subs_of(pico: &PicoId) -> Key {
        Key::build(Key::MQTT_SUB, &[pico.as_str()])
    }
    /// Prefix of every subscription.
    pub fn mqtt_subs_all() -> Key {
        Key::build(Key::MQTT_SUB, &[])
    }
    /// A delivery mark: `pico` committed the event of message `seq` of
    /// the broker session of `node` (a cluster node's; `None` on one node).
    pub fn mqtt_mark(node: Option<&str>, seq: &str, pico: &PicoId) -> Key {
        match node {
            None => Key::build(Key::MQTT_MARK, &[seq, pico.as_str()]),
            Some(n) => Key::build(Key::MQTT_MARK, &[n, seq, pico.as_str()]),
        }
    }
    /// Prefix of every delivery mark of `node`'s session (`None`: one
    /// node's).
    pub fn mqtt_marks_all(node: Option<&str>) -> Key {
        match node {
            None => Key::build(Key::MQTT_MARK, &[]),
            Some(n) => Key::build(Key::MQTT_MARK, &[n]),
        }
    }
}

/// Engine facts kept under `M root`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EngineMeta {
    /// The root pico.
    pub root_pico: PicoId,
    /// Its first channel, printed at start as `root_eci`.
    pub root_eci: Eci,
}

/// A registered ruleset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RulesetRecord {
    /// Its id.
    pub rid: Rid,
    /// `meta { version "..." }`, or `draft`.
    pub version: String,
    /// sha256 of the source, lowercase hex.
    pub hash: String,
    /// The KRL source as registered.
    pub source: String,
    /// When it was registered (ms since the Unix epoch).
    pub registered_ms: u64,
    /// The URL it was registered (flushed) from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The compiler's warnings when it was registered (`line:col: message`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// A pico.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PicoRecord {
    /// Its name (free text).
    pub name: String,
    /// Its parent; `None` only for the root.
    pub parent: Option<PicoId>,
    /// Its children, oldest first, as folders written before the `H`
    /// keys kept them (the record then grew with every child). Read
    /// before the `H` keys (see [`WriteBuf::children`]); new children
    /// only get an `H` key, so this is empty in new folders.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<PicoId>,
    /// Its place among its parent's children: the seq of its `H` key
    /// ([`Key::child`]); `None` for the root and for children listed in
    /// their parent's record (older folders).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child_seq: Option<u64>,
    /// Its channels, oldest first.
    pub channels: Vec<Eci>,
    /// The family channel to its parent: a channel of the parent that only
    /// this pico may use (`ctx:parent`). `None` for the root, and for picos
    /// made before family channels existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_eci: Option<Eci>,
    /// The family channel its parent uses: a channel of this pico that
    /// only the parent may use (in the parent's `ctx:children`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child_eci: Option<Eci>,
}

/// A ruleset installed on a pico.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstallRecord {
    /// Which ruleset.
    pub rid: Rid,
    /// Its configuration (`meta:rulesetConfig`), a JSON object.
    pub config: serde_json::Value,
    /// The URL it was installed from (`ctx:rid_url`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// A channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelRecord {
    /// The pico it leads to.
    pub pico: PicoId,
    /// Free-form tags.
    pub tags: Vec<String>,
    /// The policy as given (see `policy`); `None` allows everything.
    pub policy: Option<serde_json::Value>,
    /// Twilio auth token for signature checks on this channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub twilio_auth_token: Option<String>,
    /// A family channel: only this pico may use it (the Pico Engine's
    /// `familyChannelPicoID`); its tags and policy cannot change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<PicoId>,
}

/// A call session (`W pico CallSid`): written with each of its variables.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// When it expires (ms since the Unix epoch): `--call-session-ttl`
    /// after its last write.
    pub expires_ms: u64,
    /// The rulesets that wrote variables to it (their `V` keys are under
    /// `V pico rid CallSid`).
    pub rids: Vec<String>,
}

/// The database. Cheap to clone (an `Arc`).
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    path: PathBuf,
    /// Writers waiting for the next flush, and what wakes the flusher.
    queue: Arc<FlushQueue>,
    flusher: Once,
    /// Flushes begun and flushes completed, for callers that need to know
    /// whether something they applied is on disk yet.
    flushes_started: AtomicU64,
    flushes: AtomicU64,
    /// The start number of the latest flush that succeeded: everything
    /// applied before it started is durable. A failed flush leaves it.
    durable_upto: AtomicU64,
    /// The data folder's syncs after each flush; `None`: relaxed.
    sync: Mutex<Option<DirSync>>,
    /// Group flushes whose sync has completed.
    synced: AtomicU64,
    /// Batches applied that wrote a channel ([`Store::channel_generation`]).
    channel_writes: AtomicU64,
    /// On sled, the picos that may have schedules or call sessions (see
    /// [`Store::may_have_schedules`]); `None` on PostgreSQL, where other
    /// nodes write too.
    seen: Option<Seen>,
}

/// The picos that have had a schedule (`T`) or session (`W`) key since
/// the store opened, or had one then: a pico outside them has none, so
/// starting its task skips those two scans (each a leaf of sled's tree,
/// most often out of its cache with many picos). Only ever grows: a pico
/// whose last schedule went is still scanned, and finds none.
struct Seen {
    schedules: dashmap::DashSet<PicoId>,
    sessions: dashmap::DashSet<PicoId>,
}

impl Seen {
    /// Notes the pico of `key` if it is a schedule or session key.
    fn note(&self, key: &Key) {
        let set = match key.0.first() {
            Some(&tag::SCHEDULE) => &self.schedules,
            Some(&tag::SESSION) => &self.sessions,
            _ => return,
        };
        if let Some((_, parts)) = Key::decode(&key.0) {
            if let Some(pico) = parts.into_iter().next() {
                set.insert(PicoId::new(pico));
            }
        }
    }
}

/// Where the keys live: sled (one node) or PostgreSQL (a cluster, `pg`).
enum Backend {
    Sled {
        db: sled::Db,
        tree: sled::Tree,
        /// sled's `sync_data` (vendor/sled/KRL-PATCH.md): while set, its
        /// flush ends with `fdatasync` of what it wrote.
        syncs: Arc<AtomicBool>,
        /// How many times sled synced this database's log.
        log_syncs: Arc<AtomicU64>,
    },
    Pg(Arc<pg::Pg>),
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Lets the flusher see that the store is gone and end.
        self.queue.close();
    }
}

/// Someone waiting for a flush: a ticket's sender, or what to run once
/// the flush is done ([`Store::after_flush`]).
enum Waiter {
    Ticket(oneshot::Sender<Result<(), String>>),
    Then(Box<dyn FnOnce(Result<(), String>) + Send>),
}

impl Waiter {
    fn done(self, result: Result<(), String>) {
        match self {
            // A ticket dropped (client disconnected) is fine.
            Waiter::Ticket(tx) => drop(tx.send(result)),
            Waiter::Then(then) => then(result),
        }
    }
}

/// The writers waiting for the next group flush. sled's flusher is a
/// thread of its own, woken by the condition variable: a flush from a
/// tokio task (`flush_async`, then the sync on the blocking pool) cost
/// two more thread hand-offs per group, and sled's pool wakes all of its
/// idle threads for each job it is given. PostgreSQL's flusher is a task
/// (its client is async), woken by the `Notify`.
struct FlushQueue {
    state: Mutex<Waiting>,
    /// Wakes sled's flusher thread.
    ready: Condvar,
    /// Wakes PostgreSQL's flusher task; keeps a permit, so no wake-up is
    /// lost.
    wake: Notify,
    /// Which of the two the flusher waits on.
    threaded: bool,
}

#[derive(Default)]
struct Waiting {
    waiters: Vec<Waiter>,
    /// The store is gone.
    closed: bool,
    /// sled's flusher thread is waiting on `ready`: only then does a new
    /// writer need to wake it (a wake-up is a system call; under load
    /// writers mostly register while a flush runs).
    asleep: bool,
}

impl FlushQueue {
    fn new(threaded: bool) -> FlushQueue {
        FlushQueue {
            state: Mutex::new(Waiting::default()),
            ready: Condvar::new(),
            wake: Notify::new(),
            threaded,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.state
            .lock()
            .expect("the waiters lock is never held across a panic")
    }

    /// Everyone registered so far (none once taken).
    fn take(&self) -> Vec<Waiter> {
        std::mem::take(&mut self.lock().waiters)
    }

    fn push(&self, waiter: Waiter) {
        let mut q = self.lock();
        q.waiters.push(waiter);
        self.notify(q);
    }

    fn close(&self) {
        let mut q = self.lock();
        q.closed = true;
        self.notify(q);
    }

    fn notify(&self, q: std::sync::MutexGuard<'_, Waiting>) {
        if !self.threaded {
            drop(q);
            self.wake.notify_one();
        } else if q.asleep {
            drop(q);
            self.ready.notify_one();
        }
    }

    /// Everyone registered so far, waiting for one; `None` once the store
    /// is gone.
    fn take_blocking(&self) -> Option<Vec<Waiter>> {
        let mut q = self.lock();
        loop {
            if !q.waiters.is_empty() {
                return Some(std::mem::take(&mut q.waiters));
            }
            if q.closed {
                return None;
            }
            q.asleep = true;
            q = self
                .ready
                .wait(q)
                .expect("the waiters lock is never held across a panic");
            q.asleep = false;
        }
    }
}

impl Store {
    /// Opens (creating if missing) the database in `dir`. Fails with
    /// [`StoreError::Locked`] when another process has it open.
    pub fn open(dir: &Path) -> Result<Store> {
        Store::open_with_cache(dir, DEFAULT_CACHE_MB << 20)
    }

    /// [`Store::open`] with a cache of `cache_bytes` (sled's page cache;
    /// sled's accounting is approximate, the process's memory for it
    /// somewhat more).
    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Sled(e.into()))?;
        // Full durability until told otherwise (`set_durability`).
        let syncs = Arc::new(AtomicBool::new(true));
        let log_syncs = Arc::new(AtomicU64::new(0));
        let db = match sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .sync_data(syncs.clone())
            .log_sync_count(log_syncs.clone())
            .open()
        {
            Ok(db) => db,
            // sled takes an exclusive file lock on open and reports failure
            // as an I/O error "could not acquire lock on ...".
            Err(sled::Error::Io(e)) if e.to_string().contains("lock") => {
                return Err(StoreError::Locked {
                    path: dir.to_path_buf(),
                })
            }
            Err(e) => return Err(e.into()),
        };
        let tree = db.open_tree("krl")?;
        Store::with_backend(
            Backend::Sled {
                db,
                tree,
                syncs,
                log_syncs,
            },
            dir,
            Some(DirSync::new(dir)),
        )
    }

    /// Opens the store on PostgreSQL at `url` (`krl serve --store`), as
    /// node `node` of a cluster; `dir` is the node's local folder.
    pub fn open_postgres(url: &str, node: &str, dir: &Path) -> Result<Store> {
        let pg = pg::Pg::open(url, node)?;
        Store::with_backend(Backend::Pg(pg), dir, None)
    }

    fn with_backend(backend: Backend, dir: &Path, sync: Option<DirSync>) -> Result<Store> {
        // sled's flusher is a thread; PostgreSQL's a task.
        let on_sled = matches!(backend, Backend::Sled { .. });
        let store = Store {
            inner: Arc::new(Inner {
                backend,
                path: dir.to_path_buf(),
                queue: Arc::new(FlushQueue::new(on_sled)),
                flusher: Once::new(),
                flushes_started: AtomicU64::new(0),
                flushes: AtomicU64::new(0),
                durable_upto: AtomicU64::new(0),
                sync: Mutex::new(sync),
                synced: AtomicU64::new(0),
                channel_writes: AtomicU64::new(0),
                seen: on_sled.then(|| Seen {
                    schedules: dashmap::DashSet::new(),
                    sessions: dashmap::DashSet::new(),
                }),
            }),
        };
        if let Some(seen) = &store.inner.seen {
            for id in store.picos_with(tag::SCHEDULE)? {
                seen.schedules.insert(id);
            }
            for id in store.picos_with(tag::SESSION)? {
                seen.sessions.insert(id);
            }
        }
        if store.get::<u32>(&Key::meta("format"))?.is_none() {
            let mut buf = WriteBuf::new();
            buf.put(Key::meta("format"), &FORMAT);
            store.apply(buf)?;
        }
        Ok(store)
    }

    /// The data folder.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Reads and decodes one value.
    pub fn get<T: DeserializeOwned>(&self, key: &Key) -> Result<Option<T>> {
        match self.get_raw(key)? {
            None => Ok(None),
            Some(bytes) => decode(key, &bytes).map(Some),
        }
    }

    /// Reads one value's bytes, undecoded.
    pub fn get_raw(&self, key: &Key) -> Result<Option<sled::IVec>> {
        match &self.inner.backend {
            Backend::Sled { tree, .. } => Ok(tree.get(key.as_bytes())?),
            Backend::Pg(pg) => Ok(pg.get(key.as_bytes())?.map(sled::IVec::from)),
        }
    }

    /// Reads one value's bytes as committed: on PostgreSQL the table's,
    /// not a write of this node still waiting for its commit (which a
    /// flush may yet refuse); on sled, what [`Store::get_raw`] reads.
    pub fn get_committed_raw(&self, key: &Key) -> Result<Option<sled::IVec>> {
        match &self.inner.backend {
            Backend::Sled { .. } => self.get_raw(key),
            Backend::Pg(pg) => Ok(pg.get_committed(key.as_bytes())?.map(sled::IVec::from)),
        }
    }

    /// Every key and value's bytes under `prefix`, in key order.
    fn scan_bytes(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, sled::IVec)>> {
        match &self.inner.backend {
            Backend::Sled { tree, .. } => tree
                .scan_prefix(prefix)
                .map(|kv| {
                    let (k, v) = kv?;
                    Ok((k.to_vec(), v))
                })
                .collect(),
            Backend::Pg(pg) => Ok(pg
                .scan(prefix)?
                .into_iter()
                .map(|(k, v)| (k, sled::IVec::from(v)))
                .collect()),
        }
    }

    /// Calls `f` with every key and value, in key order (`krl migrate`).
    pub fn for_each_raw(&self, mut f: impl FnMut(&[u8], &[u8]) -> Result<()>) -> Result<()> {
        match &self.inner.backend {
            Backend::Sled { tree, .. } => {
                for kv in tree.iter() {
                    let (k, v) = kv?;
                    f(&k, &v)?;
                }
                Ok(())
            }
            Backend::Pg(pg) => {
                for (k, v) in pg.scan(b"")? {
                    f(&k, &v)?;
                }
                Ok(())
            }
        }
    }

    /// The PostgreSQL backend's shards held by this node (`None` on sled).
    pub fn leases(&self) -> Option<&Arc<pg::Leases>> {
        match &self.inner.backend {
            Backend::Sled { .. } => None,
            Backend::Pg(pg) => Some(pg.leases()),
        }
    }

    /// Is a write of `key` applied but not committed yet (PostgreSQL: in
    /// the overlay)? Always false on sled, whose applied writes stay.
    pub fn is_uncommitted(&self, key: &Key) -> bool {
        match &self.inner.backend {
            Backend::Sled { .. } => false,
            Backend::Pg(pg) => pg.is_pending(&key.0),
        }
    }

    /// May this node write `key`? Always on one node; in a cluster, when
    /// it is engine-wide or of a shard this node holds.
    pub fn writes_here(&self, key: &Key) -> bool {
        self.leases()
            .is_none_or(|l| pg::shard_of_key(&key.0).is_none_or(|s| l.held(s).is_some()))
    }

    /// The PostgreSQL backend, if that is where the store is.
    pub fn postgres(&self) -> Option<&Arc<pg::Pg>> {
        match &self.inner.backend {
            Backend::Sled { .. } => None,
            Backend::Pg(pg) => Some(pg),
        }
    }

    /// Makes every cached channel read again (a shard came to this node:
    /// others may have written its channels meanwhile).
    pub fn forget_channels(&self) {
        self.inner.channel_writes.fetch_add(1, Ordering::SeqCst);
    }

    /// Every key that starts with `prefix`, in key order.
    pub fn keys(&self, prefix: &Key) -> Result<Vec<Key>> {
        match &self.inner.backend {
            Backend::Sled { tree, .. } => tree
                .scan_prefix(prefix.as_bytes())
                .keys()
                .map(|k| Ok(Key(k?.to_vec())))
                .collect(),
            Backend::Pg(_) => Ok(self
                .scan_bytes(prefix.as_bytes())?
                .into_iter()
                .map(|(k, _)| Key(k))
                .collect()),
        }
    }

    /// Every key and value that starts with `prefix`, in key order.
    pub fn scan<T: DeserializeOwned>(&self, prefix: &Key) -> Result<Vec<(Key, T)>> {
        self.scan_bytes(prefix.as_bytes())?
            .into_iter()
            .map(|(k, v)| {
                let key = Key(k);
                let value = decode(&key, &v)?;
                Ok((key, value))
            })
            .collect()
    }

    /// Engine meta, if the engine has started here before.
    pub fn engine_meta(&self) -> Result<Option<EngineMeta>> {
        self.get(&Key::meta("root"))
    }
    /// A registered ruleset.
    pub fn ruleset(&self, rid: &Rid) -> Result<Option<RulesetRecord>> {
        self.get(&Key::ruleset(rid))
    }
    /// All registered rulesets, by rid.
    pub fn rulesets(&self) -> Result<Vec<RulesetRecord>> {
        Ok(self
            .scan(&Key::rulesets())?
            .into_iter()
            .map(|(_, r)| r)
            .collect())
    }
    /// Every stored ruleset by the rid in its key, each record decoded on
    /// its own: one that does not decode (an edited store, an older
    /// format) is an `Err` with the reason, and the others still load.
    pub fn ruleset_records(&self) -> Result<Vec<(Rid, Result<RulesetRecord>)>> {
        let mut out = Vec::new();
        for (k, v) in self.scan_bytes(Key::rulesets().as_bytes())? {
            let key = Key(k.clone());
            let rid = match Key::decode(&k) {
                Some((_, parts)) if parts.len() == 1 => Rid::new(parts[0].clone()),
                _ => Rid::new(key.render()),
            };
            out.push((rid, decode(&key, &v)));
        }
        Ok(out)
    }
    /// Whether `pico` may have scheduled events: `false` only when it
    /// certainly has none (on sled, no schedule key of it since the store
    /// opened or before), so that starting its task can skip the scan.
    pub fn may_have_schedules(&self, pico: &PicoId) -> bool {
        self.inner
            .seen
            .as_ref()
            .is_none_or(|s| s.schedules.contains(pico))
    }
    /// [`Store::may_have_schedules`] for call sessions.
    pub fn may_have_sessions(&self, pico: &PicoId) -> bool {
        self.inner
            .seen
            .as_ref()
            .is_none_or(|s| s.sessions.contains(pico))
    }
    /// The picos that have scheduled events, each once, in key order.
    pub fn scheduled_picos(&self) -> Result<Vec<PicoId>> {
        self.picos_with(tag::SCHEDULE)
    }
    /// The picos that have call sessions, each once, in key order.
    pub fn session_picos(&self) -> Result<Vec<PicoId>> {
        self.picos_with(tag::SESSION)
    }
    /// The picos that have a key with `tag` (whose first part is a pico).
    fn picos_with(&self, tag: u8) -> Result<Vec<PicoId>> {
        let mut out: Vec<PicoId> = Vec::new();
        let all = Key::build(tag, &[]);
        let Backend::Sled { tree, .. } = &self.inner.backend else {
            for key in self.keys(&all)? {
                if let Some((_, parts)) = Key::decode(&key.0) {
                    if let Some(p) = parts.first() {
                        if out.last().map(|l| l.as_str()) != Some(p.as_str()) {
                            out.push(PicoId::new(p.clone()));
                        }
                    }
                }
            }
            return Ok(out);
        };
        let mut from = all.0.clone();
        // One key per pico: after each, skip past all of that pico's keys
        // (its prefix ends in 0x00; 0x01 sorts right after it).
        while let Some(kv) = tree.range(from.clone()..).next() {
            let (k, _) = kv?;
            if !k.starts_with(&all.0) {
                break;
            }
            let Some((_, parts)) = Key::decode(&k) else {
                break;
            };
            let Some(pico) = parts.first() else { break };
            let id = PicoId::new(pico.clone());
            let mut next = Key::build(tag, &[id.as_str()]).0;
            *next.last_mut().expect("a terminated part") = 1;
            out.push(id);
            from = next;
        }
        Ok(out)
    }
    /// A pico.
    pub fn pico(&self, id: &PicoId) -> Result<Option<PicoRecord>> {
        self.get(&Key::pico(id))
    }
    /// Pico `id`'s children, oldest first (`rec` is its record).
    pub fn children(&self, id: &PicoId, rec: &PicoRecord) -> Result<Vec<PicoId>> {
        WriteBuf::new().children(self, id, rec)
    }
    /// The last key starting with `prefix`, if any.
    pub fn last_key(&self, prefix: &Key) -> Result<Option<Key>> {
        match &self.inner.backend {
            Backend::Sled { tree, .. } => match tree.scan_prefix(prefix.as_bytes()).next_back() {
                Some(kv) => Ok(Some(Key(kv?.0.to_vec()))),
                None => Ok(None),
            },
            Backend::Pg(_) => Ok(self.keys(prefix)?.pop()),
        }
    }
    /// A pico's installs (empty when none or no such pico).
    pub fn installs(&self, id: &PicoId) -> Result<Vec<InstallRecord>> {
        Ok(self.get(&Key::installs(id))?.unwrap_or_default())
    }
    /// A channel.
    pub fn channel(&self, eci: &Eci) -> Result<Option<ChannelRecord>> {
        self.get(&Key::channel(eci))
    }

    /// Applies `buf` as one atomic sled batch. Not yet durable: see
    /// [`Store::flush_ticket`].
    pub fn apply(&self, buf: WriteBuf) -> Result<()> {
        if buf.ops.is_empty() {
            return Ok(());
        }
        let channels = buf.ops.keys().any(|k| k.0.first() == Some(&tag::CHANNEL));
        let result = self.apply_ops(buf);
        if channels {
            // After the write, whether or not it failed: a cache that
            // read before it must read again.
            self.inner.channel_writes.fetch_add(1, Ordering::SeqCst);
        }
        result
    }

    /// Counts the batches that wrote a channel: a cache of channel
    /// records is valid while this has not changed since it read them.
    pub fn channel_generation(&self) -> u64 {
        self.inner.channel_writes.load(Ordering::SeqCst)
    }

    fn apply_ops(&self, buf: WriteBuf) -> Result<()> {
        let tree = match &self.inner.backend {
            Backend::Sled { tree, .. } => tree,
            Backend::Pg(pg) => {
                return pg.apply(buf.ops.into_iter().map(|(k, v)| (k.0, v)).collect());
            }
        };
        if let Some(seen) = &self.inner.seen {
            // Before the write shows: a task never finds a key it skips.
            for (key, op) in &buf.ops {
                if op.is_some() {
                    seen.note(key);
                }
            }
        }
        if buf.ops.len() == 1 {
            // One key is atomic on its own; sled's batch path costs two log
            // writes and its global write lock (bench/load.sh, perf).
            let (key, op) = buf.ops.into_iter().next().expect("one op");
            match op {
                Some(v) => tree.insert(key.0, v)?,
                None => tree.remove(key.0)?,
            };
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        for (key, op) in buf.ops {
            match op {
                Some(v) => batch.insert(key.0, v),
                None => batch.remove(key.0),
            }
        }
        tree.apply_batch(batch)?;
        Ok(())
    }

    /// Registers for the next group flush. Everything applied before this
    /// call is on disk once the ticket's [`FlushTicket::wait`] returns
    /// `Ok`. On PostgreSQL, must be called inside a tokio runtime (it
    /// starts the flusher task on first use).
    pub fn flush_ticket(&self) -> FlushTicket {
        let (tx, rx) = oneshot::channel();
        self.wait_for_flush(Waiter::Ticket(tx));
        FlushTicket(rx)
    }

    /// Runs `then` with the outcome of the flush that covers every write
    /// applied before this call, as [`Store::flush_ticket`] would wait
    /// for it, but on the flusher's thread (or task), without a task of
    /// its own awaiting a ticket: an answer sent from `then` wakes its
    /// receiver once, where a ticket wakes its task, which then wakes the
    /// receiver. `then` must be quick and must not block (sending on a
    /// channel is what it is for): the flusher runs every group's before
    /// its next flush. The same runtime rule as `flush_ticket` applies.
    pub fn after_flush(&self, then: impl FnOnce(Result<()>) + Send + 'static) {
        self.wait_for_flush(Waiter::Then(Box::new(move |r: Result<(), String>| {
            then(r.map_err(StoreError::Flush))
        })));
    }

    fn wait_for_flush(&self, waiter: Waiter) {
        self.inner.flusher.call_once(|| {
            let store = Arc::downgrade(&self.inner);
            let queue = self.inner.queue.clone();
            match &self.inner.backend {
                Backend::Sled { .. } => {
                    std::thread::Builder::new()
                        .name("krl-flush".into())
                        .spawn(move || run_sled_flusher(store, queue))
                        .expect("starting the flush thread");
                }
                Backend::Pg(_) => {
                    tokio::spawn(run_flusher(store, queue));
                }
            }
        });
        self.inner.queue.push(waiter);
    }

    /// Opens `dir` in tests, also right after the last handle of a store
    /// on it was dropped: sled lets go of the folder's lock when its own
    /// threads drop its files, a moment after the last handle goes, and
    /// nothing signals that, so a `Locked` open is tried again for a
    /// bounded time (10 s).
    #[cfg(test)]
    pub(crate) fn reopen(dir: &Path) -> Store {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match Store::open(dir) {
                Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                other => return other.expect("the store opens again"),
            }
        }
    }

    /// Applies `buf` and waits until it is on disk (group commit).
    pub async fn commit(&self, buf: WriteBuf) -> Result<()> {
        self.apply(buf)?;
        self.flush_ticket().wait().await
    }

    /// Flushes now, synchronously (start-up, shutdown, tests).
    pub fn flush_now(&self) -> Result<()> {
        match &self.inner.backend {
            Backend::Sled { db, .. } => {
                db.flush()?;
            }
            Backend::Pg(pg) => {
                let pg2 = pg.clone();
                pg.block(async move { pg2.flush().await.map_err(StoreError::Flush) })?;
            }
        }
        sync_folder(&self.inner).map_err(StoreError::Flush)?;
        Ok(())
    }

    /// What a flush promises from now on (`--durability`): the default is
    /// [`Durability::Full`].
    pub fn set_durability(&self, durability: Durability) {
        if let Backend::Pg(_) = self.inner.backend {
            // PostgreSQL's own: `synchronous_commit` (docs/cluster.md).
            return;
        }
        let mut sync = self
            .inner
            .sync
            .lock()
            .expect("the sync lock is never held across a panic");
        match durability {
            Durability::Full if sync.is_none() => *sync = Some(DirSync::new(&self.inner.path)),
            Durability::Full => {}
            Durability::Relaxed => *sync = None,
        }
        if let Backend::Sled { syncs, .. } = &self.inner.backend {
            syncs.store(durability == Durability::Full, Ordering::Release);
        }
    }

    /// How many group flushes were followed by a completed sync of the
    /// data folder (0 with [`Durability::Relaxed`]).
    pub fn sync_count(&self) -> u64 {
        self.inner.synced.load(Ordering::SeqCst)
    }

    /// How many times sled synced this store's log (`fdatasync`; 0 on
    /// PostgreSQL).
    pub fn log_sync_count(&self) -> u64 {
        match &self.inner.backend {
            Backend::Sled { log_syncs, .. } => log_syncs.load(Ordering::SeqCst),
            Backend::Pg(_) => 0,
        }
    }

    /// How many group flushes have completed.
    pub fn flush_count(&self) -> u64 {
        self.inner.flushes.load(Ordering::SeqCst)
    }

    /// The number of completed flushes after which everything applied
    /// before this call is on disk: the next flush to begin covers it.
    pub fn durable_after(&self) -> u64 {
        self.inner.flushes_started.load(Ordering::SeqCst) + 1
    }

    /// Is everything applied before `durable_after()` answered `n` on disk?
    /// Only a flush that succeeded counts: after a failed one (PostgreSQL
    /// unreachable past its retries) the writes wait for the next.
    pub fn is_durable(&self, n: u64) -> bool {
        self.inner.durable_upto.load(Ordering::SeqCst) >= n
    }
}

pub(crate) fn decode<T: DeserializeOwned>(key: &Key, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Corrupt {
        key: key.render(),
        source,
    })
}

/// How long the flusher waits for more writers before a flush, when the
/// previous group had at least [`LINGER_AFTER`] (docs/server.md,
/// "Durability: group commit"). A lone writer never waits.
const LINGER: std::time::Duration = std::time::Duration::from_micros(100);
const LINGER_AFTER: usize = 3;

/// sled's flusher thread: one flush and one sync for everyone who
/// registered before it started. Holds only a `Weak` to the store, so
/// dropping the last `Store` closes the database (and its lock) and ends
/// the thread.
fn run_sled_flusher(store: Weak<Inner>, queue: Arc<FlushQueue>) {
    let mut last = 0;
    while let Some(mut waiters) = queue.take_blocking() {
        if last >= LINGER_AFTER {
            // Under load, let the group grow a little: each flush costs
            // the same whatever its size (a write and a sync, each a trip
            // to the device), so fewer, larger groups cost less per event.
            std::thread::sleep(LINGER);
            waiters.append(&mut queue.take());
        }
        last = waiters.len();
        let Some(inner) = store.upgrade() else { return };
        let number = inner.flushes_started.fetch_add(1, Ordering::SeqCst) + 1;
        let result = match &inner.backend {
            Backend::Sled { db, .. } => db.flush().map(|_| ()).map_err(|e| e.to_string()),
            Backend::Pg(_) => Err("not a sled store".to_string()),
        }
        .and_then(|()| sync_folder(&inner));
        finish_flush(inner, number, result, waiters);
    }
}

/// PostgreSQL's flusher task: one transaction per group (`pg::Pg::flush`).
async fn run_flusher(store: Weak<Inner>, queue: Arc<FlushQueue>) {
    loop {
        queue.wake.notified().await;
        let Some(inner) = store.upgrade() else { return };
        // Everyone registered so far applied their batch before
        // registering, so the flush that starts below covers them all.
        let waiters = queue.take();
        if waiters.is_empty() {
            continue;
        }
        let number = inner.flushes_started.fetch_add(1, Ordering::SeqCst) + 1;
        let result = match &inner.backend {
            Backend::Pg(pg) => pg.clone().flush().await.map(|_| false),
            Backend::Sled { .. } => Err("not a PostgreSQL store".to_string()),
        };
        finish_flush(inner, number, result, waiters);
    }
}

/// Records flush `number`'s outcome (`Ok(synced)`) and answers its waiters.
fn finish_flush(
    inner: Arc<Inner>,
    number: u64,
    result: std::result::Result<bool, String>,
    waiters: Vec<Waiter>,
) {
    if let Ok(synced) = result {
        if synced {
            inner.synced.fetch_add(1, Ordering::SeqCst);
        }
        inner.durable_upto.fetch_max(number, Ordering::SeqCst);
    }
    inner.flushes.fetch_add(1, Ordering::SeqCst);
    // Let go of the store before waking anyone: a woken writer may drop
    // the last handle and expect the database (and its lock) closed.
    drop(inner);
    let result = result.map(|_| ());
    for w in waiters {
        w.done(result.clone());
    }
}

/// Makes a completed flush durable unless relaxed: whether it is. sled
/// syncs its own writes (`sync_data`: its flush ends with `fdatasync` of
/// the log, new blobs and snapshots are synced with their folder), so
/// after [`DirSync`]'s first pass, which syncs every file and folder sled
/// made at start-up (`db`, `conf`), nothing is left to do here.
fn sync_folder(inner: &Inner) -> std::result::Result<bool, String> {
    let mut sync = inner
        .sync
        .lock()
        .expect("the sync lock is never held across a panic");
    let sled_syncs = match &inner.backend {
        Backend::Sled { syncs, .. } => syncs.load(Ordering::Acquire),
        Backend::Pg(_) => false,
    };
    match sync.as_mut() {
        Some(s) if sled_syncs && s.calls() > 0 => Ok(true),
        Some(s) => s
            .sync()
            .map(|_| true)
            .map_err(|e| format!("syncing the data folder: {e}")),
        None => Ok(false),
    }
}

/// A registration with the group flusher (see [`Store::flush_ticket`]).
pub struct FlushTicket(oneshot::Receiver<Result<(), String>>);

impl FlushTicket {
    /// Waits for the flush that covers this ticket.
    pub async fn wait(self) -> Result<()> {
        match self.0.await {
            Ok(r) => r.map_err(StoreError::Flush),
            Err(_) => Err(StoreError::Flush("the flusher stopped".into())),
        }
    }
}

/// Writes collected during one event (or one admin operation), applied as
/// one batch. Reads through it see its own writes first, then the store.
#[derive(Default, Debug)]
pub struct WriteBuf {
    /// Final state per key: `Some` = put, `None` = remove. Order does not
    /// matter, the batch is applied atomically.
    ops: BTreeMap<Key, Option<Vec<u8>>>,
}

impl WriteBuf {
    /// An empty buffer.
    pub fn new() -> WriteBuf {
        WriteBuf::default()
    }

    /// Nothing to write?
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Puts `value` (as JSON) under `key`.
    pub fn put<T: Serialize + ?Sized>(&mut self, key: Key, value: &T) {
        let bytes = serde_json::to_vec(value)
            .expect("store records and JSON values always serialize (string keys only)");
        self.ops.insert(key, Some(bytes));
    }

    /// Puts `bytes` as they are under `key`.
    pub fn put_raw(&mut self, key: Key, bytes: Vec<u8>) {
        self.ops.insert(key, Some(bytes));
    }

    /// This buffer's write of `key`: `None` if it has none, `Some(None)`
    /// if it removes it.
    pub fn op(&self, key: &Key) -> Option<Option<&[u8]>> {
        self.ops.get(key).map(|op| op.as_deref())
    }

    /// The writes of entity variables (and their entries), for the pico's
    /// cache of committed values.
    pub fn entity_ops(&self) -> Vec<(Key, Option<Vec<u8>>)> {
        self.ops
            .iter()
            .filter(|(k, _)| k.is_entity())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Every key and value's bytes starting with `prefix`, in key order:
    /// the store's with this buffer's writes and removals laid over them.
    pub fn scan_raw(&self, store: &Store, prefix: &Key) -> Result<Vec<(Key, Vec<u8>)>> {
        let mut merged: BTreeMap<Key, Vec<u8>> = BTreeMap::new();
        for (k, v) in store.scan_bytes(prefix.as_bytes())? {
            merged.insert(Key(k), v.to_vec());
        }
        for (key, op) in self
            .ops
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.0.starts_with(&prefix.0))
        {
            match op {
                Some(bytes) => {
                    merged.insert(key.clone(), bytes.clone());
                }
                None => {
                    merged.remove(key);
                }
            }
        }
        Ok(merged.into_iter().collect())
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: Key) {
        self.ops.insert(key, None);
    }

    /// Removes every key starting with `prefix`, in the store or buffered.
    pub fn remove_prefix(&mut self, store: &Store, prefix: &Key) -> Result<()> {
        for key in store.keys(prefix)? {
            self.ops.insert(key, None);
        }
        for (_, op) in self
            .ops
            .range_mut(prefix.clone()..)
            .take_while(|(k, _)| k.0.starts_with(&prefix.0))
        {
            *op = None;
        }
        Ok(())
    }

    /// Every key and value starting with `prefix`, in key order: the
    /// store's, with this buffer's writes and removals laid over them.
    pub fn scan<T: DeserializeOwned>(&self, store: &Store, prefix: &Key) -> Result<Vec<(Key, T)>> {
        self.scan_raw(store, prefix)?
            .into_iter()
            .map(|(key, bytes)| decode(&key, &bytes).map(|v| (key, v)))
            .collect()
    }

    /// Pico `id`'s children, oldest first, as of this buffer (`rec` is its
    /// record): those its record lists (folders written before the `H`
    /// keys), then its `H` keys in creation order.
    pub fn children(&self, store: &Store, id: &PicoId, rec: &PicoRecord) -> Result<Vec<PicoId>> {
        let mut out = rec.children.clone();
        out.extend(self.child_keys(store, id)?.into_iter().map(|(c, _)| c));
        Ok(out)
    }

    /// Pico `id`'s children that have `H` keys, in creation order, each
    /// with its family channel on `id` (the `H` key's value). These
    /// channels are not in `id`'s record (children listed in the record,
    /// in older folders, have theirs there).
    pub fn child_keys(&self, store: &Store, id: &PicoId) -> Result<Vec<(PicoId, Option<Eci>)>> {
        let mut out = Vec::new();
        for (key, parent_eci) in self.scan::<Option<Eci>>(store, &Key::children(id))? {
            if let Some((_, child)) = key.child_parts() {
                out.push((child, parent_eci));
            }
        }
        Ok(out)
    }

    /// Reads `key`: this buffer's write if any, else the store.
    pub fn get<T: DeserializeOwned>(&self, store: &Store, key: &Key) -> Result<Option<T>> {
        match self.ops.get(key) {
            Some(Some(bytes)) => decode(key, bytes).map(Some),
            Some(None) => Ok(None),
            None => store.get(key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn temp() -> tempfile::TempDir {
        tempfile::tempdir().expect("a temporary directory")
    }

    #[test]
    fn key_encoding_is_tag_then_terminated_parts() {
        let k = Key::entity(&PicoId::new("p1"), &Rid::new("io.x"), "count");
        assert_eq!(k.as_bytes(), b"Ep1\0io.x\0count\0");
        assert_eq!(Key::rulesets().as_bytes(), b"R");
        assert_eq!(Key::meta("root").as_bytes(), b"Mroot\0");
    }

    #[test]
    fn key_escapes_nul_and_one_and_round_trips() {
        let k = Key::app(&Rid::new("a\0b"), "c\u{1}d");
        assert_eq!(k.as_bytes(), b"Aa\x01\x01b\0c\x01\x02d\0");
        let (t, parts) = Key::decode(k.as_bytes()).unwrap();
        assert_eq!(t, b'A');
        assert_eq!(parts, vec!["a\0b".to_string(), "c\u{1}d".to_string()]);
    }

    #[test]
    fn decode_rejects_malformed_keys() {
        assert_eq!(Key::decode(b""), None);
        assert_eq!(Key::decode(b"Eabc"), None); // no terminator
        assert_eq!(Key::decode(b"Ea\x01\x07\0"), None); // bad escape
    }

    #[test]
    fn pico_prefix_does_not_match_a_longer_pico_id() {
        let p1 = PicoId::new("p1");
        let p10 = PicoId::new("p10");
        let rid = Rid::new("r");
        let [prefix, ..] = Key::pico_state(&p1);
        assert!(Key::entity(&p1, &rid, "x")
            .as_bytes()
            .starts_with(prefix.as_bytes()));
        assert!(!Key::entity(&p10, &rid, "x")
            .as_bytes()
            .starts_with(prefix.as_bytes()));
    }

    #[test]
    fn keys_sort_by_parts() {
        let rid = Rid::new("r");
        let a = Key::entity(&PicoId::new("a"), &rid, "x");
        let ab = Key::entity(&PicoId::new("ab"), &rid, "x");
        let b = Key::entity(&PicoId::new("b"), &rid, "x");
        assert!(a < ab && ab < b);
    }

    #[test]
    fn write_buf_reads_its_own_writes_and_removes_prefixes() {
        let dir = temp();
        let store = Store::open(dir.path()).unwrap();
        let pico = PicoId::new("p");
        let rid = Rid::new("r");
        let mut buf = WriteBuf::new();
        buf.put(Key::entity(&pico, &rid, "a"), &json!(1));
        buf.put(Key::entity(&pico, &rid, "b"), &json!(2));
        store.apply(buf).unwrap();

        let mut buf = WriteBuf::new();
        buf.put(Key::entity(&pico, &rid, "c"), &json!(3));
        let got: Option<serde_json::Value> =
            buf.get(&store, &Key::entity(&pico, &rid, "c")).unwrap();
        assert_eq!(got, Some(json!(3)));
        for prefix in Key::pico_ruleset_state(&pico, &rid) {
            buf.remove_prefix(&store, &prefix).unwrap();
        }
        let got: Option<serde_json::Value> =
            buf.get(&store, &Key::entity(&pico, &rid, "a")).unwrap();
        assert_eq!(got, None);
        store.apply(buf).unwrap();
        assert!(store.keys(&Key::pico_state(&pico)[0]).unwrap().is_empty());
    }

    #[test]
    fn scheduled_picos_lists_each_pico_once() {
        let dir = temp();
        let store = Store::open(dir.path()).unwrap();
        let mut buf = WriteBuf::new();
        for (pico, rid, id) in [
            ("p1", "r", "1"),
            ("p1", "r", "2"),
            ("p1", "s", "1"),
            ("p10", "r", "1"),
            ("q", "r", "9"),
        ] {
            buf.put(Key::schedule(&PicoId::new(pico), rid, id), &json!({}));
        }
        buf.put(
            Key::entity(&PicoId::new("z"), &Rid::new("r"), "x"),
            &json!(1),
        );
        store.apply(buf).unwrap();
        let picos: Vec<String> = store
            .scheduled_picos()
            .unwrap()
            .iter()
            .map(|p| p.as_str().to_string())
            .collect();
        assert_eq!(picos, ["p1", "p10", "q"]);
    }

    #[test]
    fn write_buf_scan_lays_its_writes_over_the_store() {
        let dir = temp();
        let store = Store::open(dir.path()).unwrap();
        let pico = PicoId::new("p");
        let mut buf = WriteBuf::new();
        buf.put(Key::schedule(&pico, "r", "1"), &json!("one"));
        buf.put(Key::schedule(&pico, "r", "2"), &json!("two"));
        buf.put(Key::schedule(&pico, "other", "1"), &json!("no"));
        store.apply(buf).unwrap();
        let mut buf = WriteBuf::new();
        buf.remove(Key::schedule(&pico, "r", "1"));
        buf.put(Key::schedule(&pico, "r", "3"), &json!("three"));
        let got: Vec<serde_json::Value> = buf
            .scan(&store, &Key::ruleset_schedules(&pico, "r"))
            .unwrap()
            .into_iter()
            .map(|(_, v)| v)
            .collect();
        assert_eq!(got, vec![json!("two"), json!("three")]);
    }

    #[test]
    fn data_survives_reopening() {
        let dir = temp();
        let pico = PicoId::new("p");
        {
            let store = Store::open(dir.path()).unwrap();
            let mut buf = WriteBuf::new();
            buf.put(
                Key::pico(&pico),
                &PicoRecord {
                    name: "n".into(),
                    parent: None,
                    children: vec![],
                    child_seq: None,
                    channels: vec![Eci::new("e")],
                    parent_eci: None,
                    child_eci: None,
                },
            );
            buf.put(
                Key::entity(&pico, &Rid::new("r"), "x"),
                &json!({"a": [1, 2]}),
            );
            store.apply(buf).unwrap();
            store.flush_now().unwrap();
        }
        let store = Store::reopen(dir.path());
        assert_eq!(
            store.pico(&pico).unwrap().unwrap().channels,
            vec![Eci::new("e")]
        );
        let x: Option<serde_json::Value> =
            store.get(&Key::entity(&pico, &Rid::new("r"), "x")).unwrap();
        assert_eq!(x, Some(json!({"a": [1, 2]})));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_commit_returns_after_the_folder_is_synced_unless_relaxed() {
        let dir = temp();
        let store = Store::open(dir.path()).unwrap();
        let put = |n: u32| {
            let mut buf = WriteBuf::new();
            buf.put(Key::meta(&format!("n{n}")), &n);
            buf
        };
        // Full (the default): every completed commit had its sync first.
        for n in 0..3 {
            let calls = crate::durable::sync_calls();
            store.commit(put(n)).await.unwrap();
            assert!(store.sync_count() > n as u64, "commit {n}");
            assert!(
                crate::durable::sync_calls() > calls,
                "commit {n}: fdatasync called"
            );
        }
        // Relaxed: sled's flush only, no fdatasync.
        store.set_durability(Durability::Relaxed);
        let synced = store.sync_count();
        store.commit(put(9)).await.unwrap();
        assert_eq!(store.sync_count(), synced);
        store.set_durability(Durability::Full);
        store.commit(put(10)).await.unwrap();
        assert_eq!(store.sync_count(), synced + 1);
    }

    #[test]
    fn second_open_of_the_same_folder_is_locked() {
        let dir = temp();
        let _first = Store::open(dir.path()).unwrap();
        match Store::open(dir.path()) {
            Err(StoreError::Locked { path }) => assert_eq!(path, dir.path()),
            Err(e) => panic!("expected Locked, got {e}"),
            Ok(_) => panic!("expected Locked, the second open succeeded"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_commits_share_flushes() {
        let dir = temp();
        let store = Store::open(dir.path()).unwrap();
        let mut tasks = Vec::new();
        for i in 0..64 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut buf = WriteBuf::new();
                buf.put(Key::app(&Rid::new("r"), &i.to_string()), &json!(i));
                store.commit(buf).await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let flushes = store.flush_count();
        assert!(store.is_durable(store.durable_after() - 1));
        assert!(
            (1..64).contains(&flushes),
            "{flushes} flushes for 64 commits"
        );
        assert_eq!(store.keys(&Key::build(tag::APP, &["r"])).unwrap().len(), 64);
    }

    /// The paths krl's sled changes (vendor/sled/KRL-PATCH.md): log
    /// buffers written by the flushing thread and by the IO pool (values
    /// that fill a buffer), blob files (values over a quarter of a
    /// segment), made durable by the flushes' `fdatasync`; everything
    /// committed reads back after a reopen.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn large_and_concurrent_commits_read_back_after_a_reopen() {
        let dir = temp();
        let syncs = sled::log_syncs();
        let value = |n: usize| -> String {
            let len = if n.is_multiple_of(8) {
                600_000
            } else {
                20_000 + n
            };
            format!("{n}:").repeat(len / 4)
        };
        {
            let store = Store::open(dir.path()).unwrap();
            let mut tasks = Vec::new();
            for n in 0..96 {
                let store = store.clone();
                let v = value(n);
                tasks.push(tokio::spawn(async move {
                    let mut buf = WriteBuf::new();
                    buf.put(Key::meta(&format!("v{n}")), &v);
                    buf.put(Key::meta(&format!("w{n}")), &n);
                    store.commit(buf).await
                }));
            }
            for t in tasks {
                t.await.unwrap().unwrap();
            }
        }
        assert!(sled::log_syncs() > syncs, "no flush synced the log");
        let blobs = std::fs::read_dir(dir.path().join("blobs"))
            .map(|d| d.count())
            .unwrap_or(0);
        assert!(blobs > 0, "no value was written as a blob");
        // (a CI run saw `Locked` here once)
        let store = Store::reopen(dir.path());
        for n in 0..96 {
            let v: Option<String> = store.get(&Key::meta(&format!("v{n}"))).unwrap();
            assert_eq!(v.as_deref(), Some(value(n).as_str()), "v{n}");
            let w: Option<usize> = store.get(&Key::meta(&format!("w{n}"))).unwrap();
            assert_eq!(w, Some(n));
        }
    }

    #[test]
    fn the_store_knows_which_picos_may_have_schedules_or_sessions() {
        let dir = temp();
        let (a, b) = (PicoId::new("a"), PicoId::new("b"));
        {
            let store = Store::open(dir.path()).unwrap();
            assert!(!store.may_have_schedules(&a));
            assert!(!store.may_have_sessions(&a));
            let mut buf = WriteBuf::new();
            buf.put(Key::schedule(&a, &Rid::new("r"), "s1"), &json!({}));
            buf.put(Key::entity(&b, &Rid::new("r"), "n"), &json!(1));
            store.apply(buf).unwrap();
            let mut buf = WriteBuf::new();
            buf.put(Key::session(&b, "CA1"), &json!({}));
            store.apply(buf).unwrap();
            assert!(store.may_have_schedules(&a));
            assert!(!store.may_have_sessions(&a));
            assert!(!store.may_have_schedules(&b));
            assert!(store.may_have_sessions(&b));
            store.flush_now().unwrap();
        }
        // Read back from the keys when the store opens again.
        let store = Store::reopen(dir.path());
        assert!(store.may_have_schedules(&a));
        assert!(!store.may_have_schedules(&b));
        assert!(store.may_have_sessions(&b));
        assert!(!store.may_have_sessions(&a));
    }

    #[tokio::test]
    async fn batches_sync_only_when_flushed() {
        // sled writes a batch as two log buffers; each write used to end
        // with its own fdatasync. Now only a flush syncs, once for all.
        let dir = temp();
        let store = Store::open(dir.path()).unwrap();
        store.flush_now().unwrap();
        let before = store.log_sync_count();
        for n in 0..200 {
            let mut buf = WriteBuf::new();
            buf.put(Key::meta(&format!("a{n}")), &n);
            buf.put(Key::meta(&format!("b{n}")), &n);
            store.apply(buf).unwrap();
        }
        // sled's own background flush (every 500 ms) may sync meanwhile.
        let during = store.log_sync_count() - before;
        assert!(during < 20, "{during} syncs for 200 unflushed batches");
        // One more batch, so that the flush below has something to sync
        // even if sled's background flush synced all the others just now
        // (a sync of it by either is counted before the flush returns).
        let mut buf = WriteBuf::new();
        buf.put(Key::meta("a200"), &200);
        buf.put(Key::meta("b200"), &200);
        store.apply(buf).unwrap();
        store.flush_now().unwrap();
        assert!(
            store.log_sync_count() > before + during,
            "the flush did not sync"
        );
        drop(store);
        let store = Store::reopen(dir.path());
        for n in 0..200 {
            assert_eq!(
                store.get::<i32>(&Key::meta(&format!("b{n}"))).unwrap(),
                Some(n)
            );
        }
    }

    #[tokio::test]
    async fn after_flush_runs_once_the_write_before_it_is_durable() {
        let dir = temp();
        let store = Store::open(dir.path()).unwrap();
        store.flush_now().unwrap();
        let mut seen = Vec::new();
        for n in 0..20 {
            // Read before the write: a sync of it by sled's own background
            // flush, just after, still counts.
            let syncs = store.log_sync_count();
            let mut buf = WriteBuf::new();
            buf.put(Key::meta(&format!("k{n}")), &n);
            store.apply(buf).unwrap();
            let mark = store.durable_after();
            let (tx, rx) = oneshot::channel();
            let s = store.clone();
            store.after_flush(move |r| {
                // Run by the flusher: what it reports must already hold.
                let seen = (r.is_ok(), s.is_durable(mark), s.log_sync_count() > syncs);
                // Not the last handle after the test's reopen below.
                drop(s);
                let _ = tx.send(seen);
            });
            seen.push(rx);
        }
        for rx in seen {
            assert_eq!(rx.await.unwrap(), (true, true, true));
        }
        drop(store);
        let store = Store::reopen(dir.path());
        assert_eq!(store.get::<i32>(&Key::meta("k19")).unwrap(), Some(19));
    }

    #[tokio::test]
    async fn dropping_the_store_releases_the_lock_even_after_a_flush() {
        let dir = temp();
        {
            let store = Store::open(dir.path()).unwrap();
            let mut buf = WriteBuf::new();
            buf.put(Key::meta("x"), &json!(1));
            store.commit(buf).await.unwrap();
        }
        // The flusher task holds only a Weak: the database is closed (a
        // moment after the last handle, see `reopen`; a strong handle left
        // behind would hold it for good and time the reopen out).
        let store = Store::reopen(dir.path());
        assert_eq!(
            store.get::<serde_json::Value>(&Key::meta("x")).unwrap(),
            Some(json!(1))
        );
    }
}
