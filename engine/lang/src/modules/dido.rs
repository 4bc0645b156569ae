//! `dido:` (the Pico Engine's DIDComm module) as far as its system
//! rulesets need it on a pico with no DID set up: routes can be added and
//! the DID tables cleared (there is nothing to route or clear), and a
//! query to a `did:` address is a clear error. Full DIDComm is not
//! implemented; its other members are "not supported" when run.

use super::{Member, Module};
use crate::native::Kind;
use crate::runtime::{RuntimeError, Value};

/// `dido:`.
pub static MODULE: Module = Module {
    domain: "dido",
    doc: "DIDComm (the Pico Engine's dido:), as far as a pico without DIDs needs it.",
    members: MEMBERS,
    ..Module::BLANK
};

/// A member that does nothing here and answers null: usable in
/// expressions and action blocks alike.
const fn nothing(name: &'static str, params: &'static [&'static str], doc: &'static str) -> Member {
    Member {
        name,
        params,
        kind: Kind::Both(|_, _| Ok(Value::Null)),
        doc,
        ..Member::BLANK
    }
}

static MEMBERS: &[Member] = &[
    nothing(
        "addRoute",
        &["type", "domain", "name"],
        "dido:addRoute(type, domain, name): routes a DIDComm message type to an event (no DIDs here: nothing to route)",
    ),
    nothing("clearDidMap", &[], "dido:clearDidMap(): clears the DID map (empty here)"),
    nothing("clearDidDocs", &[], "dido:clearDidDocs(): clears the DID documents (none here)"),
    nothing(
        "clearPendingRotations",
        &[],
        "dido:clearPendingRotations(): clears pending DID rotations (none here)",
    ),
    Member {
        name: "prepareQuery",
        params: &["did", "query"],
        kind: Kind::Both(|_, a| {
            Err(RuntimeError::new(format!(
                "DIDComm is not supported by this engine: cannot query {}",
                a.arg(0).to_krl_string()
            )))
        }),
        doc: "dido:prepareQuery(did, query): a query over DIDComm (not supported: an error)",
        ..Member::BLANK
    },
];
