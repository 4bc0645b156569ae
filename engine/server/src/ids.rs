//! Identifier newtypes (`PicoId`, `Eci`, `Rid`, `Eid`, `TxnId`) and the
//! random ids the engine hands out. Uses: rand, serde.
//!
//! Ids are 22 characters of base62 drawn from a CSPRNG (`rand`'s
//! `thread_rng`, ChaCha seeded from the OS): about 131 bits, so an eci is
//! unguessable and can act as a capability, as in the Pico Engine.

use rand::Rng as _;
use serde::{Deserialize, Serialize};
use std::fmt;

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `len` random base62 characters.
pub fn random_base62(len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| BASE62[rng.gen_range(0..BASE62.len())] as char)
        .collect()
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps an id received from outside (a URL, a record).
            pub fn new(s: impl Into<String>) -> $name {
                $name(s.into())
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// A pico's id.
    PicoId
);
id_type!(
    /// An event channel identifier: the address of a channel, and the
    /// capability to use it.
    Eci
);
id_type!(
    /// A ruleset id, e.g. `io.example.hello`.
    Rid
);
id_type!(
    /// An event id: the caller's, or one the engine assigns for `none`.
    Eid
);
id_type!(
    /// A transaction id: one per event or query the engine processes.
    TxnId
);

impl PicoId {
    /// A fresh random pico id.
    pub fn random() -> PicoId {
        PicoId(random_base62(22))
    }
}

impl Eci {
    /// A fresh random eci.
    pub fn random() -> Eci {
        Eci(random_base62(22))
    }
}

impl Eid {
    /// A fresh random eid, for events sent with eid `none`.
    pub fn random() -> Eid {
        Eid(random_base62(22))
    }
}

impl TxnId {
    /// A fresh random transaction id.
    pub fn random() -> TxnId {
        TxnId(random_base62(22))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_are_22_base62_chars_and_differ() {
        let a = Eci::random();
        let b = Eci::random();
        assert_eq!(a.as_str().len(), 22);
        assert!(a.as_str().bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[test]
    fn ids_serialize_as_plain_strings() {
        let id = PicoId::new("abc");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"abc\"");
        let back: PicoId = serde_json::from_str("\"abc\"").unwrap();
        assert_eq!(back, id);
    }
}
