//! Storage: LDK's key-value store traits ([`KVStore`], async, and [`KVStoreSync`]) over the
//! backends the node runs on, and the one list of where the node keeps what.
//!
//! - [`MemoryStore`]: in memory, for tests and throwaway nodes; every target.
//! - [`FilesystemStore`]: a directory tree with atomic writes; native only.
//! - `IndexedDbStore`: the browser store over IndexedDB (DESIGN.md §1 "Storage"); wasm only.
//!
//! Every backend passes the same suite, [`test_utils::do_test_store`].
//!
//! # Data model
//!
//! A value lives at `(primary_namespace, secondary_namespace, key)`. Namespaces and keys are
//! at most [`KVSTORE_NAMESPACE_KEY_MAX_LEN`] characters of [`KVSTORE_NAMESPACE_KEY_ALPHABET`];
//! keys are never empty; an empty primary namespace requires an empty secondary one. Every
//! store checks this with [`check_namespace_key`] and refuses anything else with
//! [`ErrorKind::InvalidInput`](lightning::io::ErrorKind::InvalidInput). A key must not share
//! its name with a namespace at the same level (the filesystem store maps namespaces to
//! directories); the constants below are chosen so none do, and a test checks it.
//!
//! # Write order
//!
//! LDK requires that writes to one key take effect in call order even when their futures are
//! polled out of order (DESIGN.md §6). The memory and filesystem stores do the whole write (or
//! remove) inside the call and return an already-completed future, so the order is the call
//! order. The IndexedDB store issues the write's transaction inside the call and IndexedDB
//! commits overlapping readwrite transactions in creation order (see its module).
//!
//! # Errors
//!
//! The traits return [`lightning::io::Error`]; a missing key is
//! [`ErrorKind::NotFound`](lightning::io::ErrorKind::NotFound). At the public API a storage
//! failure becomes [`Error::StorageUnavailable`] (the `From` impls here). Turn `NotFound` into
//! "absent" yourself before converting where a key is optional.

use core::fmt;

use lightning::bitcoin::secp256k1::PublicKey;
use lightning::io;

use crate::{Error, Network};

/// Implements LDK's async [`KVStore`] for a store whose [`KVStoreSync`] calls do all their work
/// before returning: each future is already complete, so writes take effect in call order
/// (see "Write order" above).
macro_rules! impl_kvstore_via_sync {
    ($store:ty) => {
        impl lightning::util::persist::KVStore for $store {
            fn read(
                &self,
                primary_namespace: &str,
                secondary_namespace: &str,
                key: &str,
            ) -> lightning::util::async_poll::AsyncResult<'static, Vec<u8>, lightning::io::Error> {
                let res = lightning::util::persist::KVStoreSync::read(
                    self,
                    primary_namespace,
                    secondary_namespace,
                    key,
                );
                Box::pin(core::future::ready(res))
            }

            fn write(
                &self,
                primary_namespace: &str,
                secondary_namespace: &str,
                key: &str,
                buf: Vec<u8>,
            ) -> lightning::util::async_poll::AsyncResult<'static, (), lightning::io::Error> {
                let res = lightning::util::persist::KVStoreSync::write(
                    self,
                    primary_namespace,
                    secondary_namespace,
                    key,
                    buf,
                );
                Box::pin(core::future::ready(res))
            }

            fn remove(
                &self,
                primary_namespace: &str,
                secondary_namespace: &str,
                key: &str,
                lazy: bool,
            ) -> lightning::util::async_poll::AsyncResult<'static, (), lightning::io::Error> {
                let res = lightning::util::persist::KVStoreSync::remove(
                    self,
                    primary_namespace,
                    secondary_namespace,
                    key,
                    lazy,
                );
                Box::pin(core::future::ready(res))
            }

            fn list(
                &self,
                primary_namespace: &str,
                secondary_namespace: &str,
            ) -> lightning::util::async_poll::AsyncResult<'static, Vec<String>, lightning::io::Error>
            {
                let res = lightning::util::persist::KVStoreSync::list(
                    self,
                    primary_namespace,
                    secondary_namespace,
                );
                Box::pin(core::future::ready(res))
            }
        }
    };
}
use impl_kvstore_via_sync;

/// The store a node runs on, whichever backend it is.
pub type DynStore = dyn KVStore;

pub mod fenced;
#[cfg(not(target_arch = "wasm32"))]
pub mod fs;
pub mod gate;
#[cfg(target_arch = "wasm32")]
pub mod indexeddb;
pub mod memory;
#[doc(hidden)]
pub mod test_utils;

pub use fenced::FencedStore;
#[cfg(not(target_arch = "wasm32"))]
pub use fs::FilesystemStore;
pub use gate::{GatedStore, MonitorGate, StorageHealth};
#[cfg(target_arch = "wasm32")]
pub use indexeddb::IndexedDbStore;
pub use memory::MemoryStore;

pub use lightning::util::persist::{
    KVStore, KVStoreSync, MigratableKVStore, KVSTORE_NAMESPACE_KEY_ALPHABET,
    KVSTORE_NAMESPACE_KEY_MAX_LEN,
};

// ---- LDK's own locations (lightning::util::persist) ----

pub use lightning::util::persist::{
    ARCHIVED_CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
    ARCHIVED_CHANNEL_MONITOR_PERSISTENCE_SECONDARY_NAMESPACE, CHANNEL_MANAGER_PERSISTENCE_KEY,
    CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE, CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
    CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE, CHANNEL_MONITOR_PERSISTENCE_SECONDARY_NAMESPACE,
    CHANNEL_MONITOR_UPDATE_PERSISTENCE_PRIMARY_NAMESPACE, NETWORK_GRAPH_PERSISTENCE_KEY,
    NETWORK_GRAPH_PERSISTENCE_PRIMARY_NAMESPACE, NETWORK_GRAPH_PERSISTENCE_SECONDARY_NAMESPACE,
    OUTPUT_SWEEPER_PERSISTENCE_KEY, OUTPUT_SWEEPER_PERSISTENCE_PRIMARY_NAMESPACE,
    OUTPUT_SWEEPER_PERSISTENCE_SECONDARY_NAMESPACE, SCORER_PERSISTENCE_KEY,
    SCORER_PERSISTENCE_PRIMARY_NAMESPACE, SCORER_PERSISTENCE_SECONDARY_NAMESPACE,
};

// ---- lightning-liquidity's (LSPS2 client: its event queue) ----

pub use lightning_liquidity::persist::{
    LIQUIDITY_MANAGER_EVENT_QUEUE_PERSISTENCE_KEY,
    LIQUIDITY_MANAGER_EVENT_QUEUE_PERSISTENCE_SECONDARY_NAMESPACE,
    LIQUIDITY_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
};

// ---- ours ----

/// Primary namespace of the [`NodeMetadata`] record.
pub const NODE_METADATA_PRIMARY_NAMESPACE: &str = "";
/// Secondary namespace of the [`NodeMetadata`] record.
pub const NODE_METADATA_SECONDARY_NAMESPACE: &str = "";
/// Key of the [`NodeMetadata`] record (network and node id the store belongs to). Written
/// once when a store is first used; checked on every start so a store of another network or
/// seed is refused before LDK reads anything.
pub const NODE_METADATA_KEY: &str = "node_metadata";

/// Primary namespace of the seed.
pub const SEED_PERSISTENCE_PRIMARY_NAMESPACE: &str = "";
/// Secondary namespace of the seed.
pub const SEED_PERSISTENCE_SECONDARY_NAMESPACE: &str = "";
/// Key of the seed envelope written by `seed.rs`: encrypted (passphrase → KDF →
/// ChaCha20-Poly1305), plaintext only when the caller opted in (DESIGN.md §1).
pub const SEED_PERSISTENCE_KEY: &str = "seed";

/// Primary namespace of the on-chain wallet (BDK).
pub const BDK_WALLET_PERSISTENCE_PRIMARY_NAMESPACE: &str = "bdk_wallet";
/// Secondary namespace of the on-chain wallet (BDK).
pub const BDK_WALLET_PERSISTENCE_SECONDARY_NAMESPACE: &str = "";
/// Key of the BDK wallet's aggregated `ChangeSet` (each persist merges into it).
pub const BDK_WALLET_CHANGESET_KEY: &str = "changeset";

/// Primary namespace of the payment store; one key per payment (the payment id in hex).
pub const PAYMENT_STORE_PERSISTENCE_PRIMARY_NAMESPACE: &str = "payments";
/// Secondary namespace of the payment store.
pub const PAYMENT_STORE_PERSISTENCE_SECONDARY_NAMESPACE: &str = "";

/// Primary namespace of our event queue (events not yet handed to the application).
pub const EVENT_QUEUE_PERSISTENCE_PRIMARY_NAMESPACE: &str = "";
/// Secondary namespace of our event queue.
pub const EVENT_QUEUE_PERSISTENCE_SECONDARY_NAMESPACE: &str = "";
/// Key of our event queue.
pub const EVENT_QUEUE_PERSISTENCE_KEY: &str = "events";

/// Primary namespace of the peer store (peers with channels, to reconnect after a restart).
pub const PEER_STORE_PERSISTENCE_PRIMARY_NAMESPACE: &str = "";
/// Secondary namespace of the peer store.
pub const PEER_STORE_PERSISTENCE_SECONDARY_NAMESPACE: &str = "";
/// Key of the peer store.
pub const PEER_STORE_PERSISTENCE_KEY: &str = "peers";

/// Every fixed location the node uses: `(primary, secondary, Some(key))` for a single value,
/// `(primary, secondary, None)` for a namespace of many keys. Stores that want to enumerate or
/// wipe a node's data, and the collision test, use this list.
pub const NODE_STORAGE_LAYOUT: &[(&str, &str, Option<&str>)] = &[
    (
        CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
        CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
        Some(CHANNEL_MANAGER_PERSISTENCE_KEY),
    ),
    (
        CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
        CHANNEL_MONITOR_PERSISTENCE_SECONDARY_NAMESPACE,
        None,
    ),
    // Secondary namespace: the monitor's name; keys: update ids.
    (
        CHANNEL_MONITOR_UPDATE_PERSISTENCE_PRIMARY_NAMESPACE,
        "",
        None,
    ),
    (
        ARCHIVED_CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
        ARCHIVED_CHANNEL_MONITOR_PERSISTENCE_SECONDARY_NAMESPACE,
        None,
    ),
    (
        NETWORK_GRAPH_PERSISTENCE_PRIMARY_NAMESPACE,
        NETWORK_GRAPH_PERSISTENCE_SECONDARY_NAMESPACE,
        Some(NETWORK_GRAPH_PERSISTENCE_KEY),
    ),
    (
        SCORER_PERSISTENCE_PRIMARY_NAMESPACE,
        SCORER_PERSISTENCE_SECONDARY_NAMESPACE,
        Some(SCORER_PERSISTENCE_KEY),
    ),
    (
        OUTPUT_SWEEPER_PERSISTENCE_PRIMARY_NAMESPACE,
        OUTPUT_SWEEPER_PERSISTENCE_SECONDARY_NAMESPACE,
        Some(OUTPUT_SWEEPER_PERSISTENCE_KEY),
    ),
    (
        LIQUIDITY_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
        LIQUIDITY_MANAGER_EVENT_QUEUE_PERSISTENCE_SECONDARY_NAMESPACE,
        Some(LIQUIDITY_MANAGER_EVENT_QUEUE_PERSISTENCE_KEY),
    ),
    (
        NODE_METADATA_PRIMARY_NAMESPACE,
        NODE_METADATA_SECONDARY_NAMESPACE,
        Some(NODE_METADATA_KEY),
    ),
    (
        SEED_PERSISTENCE_PRIMARY_NAMESPACE,
        SEED_PERSISTENCE_SECONDARY_NAMESPACE,
        Some(SEED_PERSISTENCE_KEY),
    ),
    (
        BDK_WALLET_PERSISTENCE_PRIMARY_NAMESPACE,
        BDK_WALLET_PERSISTENCE_SECONDARY_NAMESPACE,
        Some(BDK_WALLET_CHANGESET_KEY),
    ),
    (
        PAYMENT_STORE_PERSISTENCE_PRIMARY_NAMESPACE,
        PAYMENT_STORE_PERSISTENCE_SECONDARY_NAMESPACE,
        None,
    ),
    (
        EVENT_QUEUE_PERSISTENCE_PRIMARY_NAMESPACE,
        EVENT_QUEUE_PERSISTENCE_SECONDARY_NAMESPACE,
        Some(EVENT_QUEUE_PERSISTENCE_KEY),
    ),
    (
        PEER_STORE_PERSISTENCE_PRIMARY_NAMESPACE,
        PEER_STORE_PERSISTENCE_SECONDARY_NAMESPACE,
        Some(PEER_STORE_PERSISTENCE_KEY),
    ),
];

/// Whether `s` is a valid namespace or key string: at most [`KVSTORE_NAMESPACE_KEY_MAX_LEN`]
/// characters, all from [`KVSTORE_NAMESPACE_KEY_ALPHABET`] (the empty string passes; whether
/// it is allowed depends on where it is used, see [`check_namespace_key`]).
pub fn is_valid_kvstore_str(s: &str) -> bool {
    s.len() <= KVSTORE_NAMESPACE_KEY_MAX_LEN
        && s.chars()
            .all(|c| KVSTORE_NAMESPACE_KEY_ALPHABET.contains(c))
}

/// Checks a namespace pair (and the key, for `read`/`write`/`remove`; `None` for `list`)
/// against LDK's rules: valid strings ([`is_valid_kvstore_str`]), a non-empty key, and an
/// empty secondary namespace whenever the primary one is empty. Fails with
/// [`ErrorKind::InvalidInput`](io::ErrorKind::InvalidInput).
pub fn check_namespace_key(
    primary_namespace: &str,
    secondary_namespace: &str,
    key: Option<&str>,
) -> Result<(), io::Error> {
    let invalid = |what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{what}: {}/{}/{}",
                Shown(primary_namespace),
                Shown(secondary_namespace),
                Shown(key.unwrap_or("")),
            ),
        )
    };
    if key.is_some_and(str::is_empty) {
        return Err(invalid("the key is empty"));
    }
    if primary_namespace.is_empty() && !secondary_namespace.is_empty() {
        return Err(invalid(
            "a secondary namespace needs a non-empty primary namespace",
        ));
    }
    if !is_valid_kvstore_str(primary_namespace)
        || !is_valid_kvstore_str(secondary_namespace)
        || !key.is_none_or(is_valid_kvstore_str)
    {
        return Err(invalid(
            "namespaces and keys are at most 120 characters of [A-Za-z0-9_-]",
        ));
    }
    Ok(())
}

/// A caller's string in an error message: escaped, and cut short if absurdly long.
struct Shown<'a>(&'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX: usize = KVSTORE_NAMESPACE_KEY_MAX_LEN + 8;
        match self.0.char_indices().nth(MAX) {
            Some((end, _)) => write!(f, "{}...", self.0[..end].escape_debug()),
            None => write!(f, "{}", self.0.escape_debug()),
        }
    }
}

impl From<io::Error> for Error {
    /// A storage failure as the public API reports it. `NotFound` included: handle absent
    /// keys before converting where absence is normal.
    fn from(e: io::Error) -> Self {
        Error::StorageUnavailable(e.to_string())
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::StorageUnavailable(e.to_string())
    }
}

/// The value at `(primary, secondary, key)`, `None` when there is none; any other failure
/// is returned as it came, for the caller to word.
pub async fn read_optional<K: KVStore + ?Sized>(
    store: &K,
    primary: &str,
    secondary: &str,
    key: &str,
) -> Result<Option<Vec<u8>>, io::Error> {
    match store.read(primary, secondary, key).await {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads the JSON value at `(primary, secondary, key)`, or `T::default()` when there is
/// none. Garbage is [`Error::StorageUnavailable`], naming `what`.
pub(crate) async fn read_json_or_default<T: serde::de::DeserializeOwned + Default>(
    store: &DynStore,
    primary: &str,
    secondary: &str,
    key: &str,
    what: &str,
) -> Result<T, Error> {
    match read_optional(store, primary, secondary, key).await? {
        Some(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| Error::StorageUnavailable(format!("stored {what} is corrupt: {e}"))),
        None => Ok(T::default()),
    }
}

/// Whether `store` already belongs to a node (holds its [`NodeMetadata`]): creating a new
/// wallet there is refused, opening one where there is none too.
pub async fn holds_node(store: &DynStore) -> Result<bool, Error> {
    let metadata = read_optional(
        store,
        NODE_METADATA_PRIMARY_NAMESPACE,
        NODE_METADATA_SECONDARY_NAMESPACE,
        NODE_METADATA_KEY,
    )
    .await?;
    Ok(metadata.is_some())
}

/// Whether `store` holds a channel manager: a node ran on it.
pub async fn holds_channel_manager(store: &DynStore) -> Result<bool, io::Error> {
    let manager = read_optional(
        store,
        CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
        CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
        CHANNEL_MANAGER_PERSISTENCE_KEY,
    )
    .await?;
    Ok(manager.is_some())
}

/// Undoes a creation that failed after it claimed `store`: removes what a node that never
/// ran wrote there (metadata, seed, wallet, ...), so that creating again is possible. Leaves
/// the store alone, returning `false`, if it holds a channel manager or a channel monitor:
/// that is a node that ran.
pub async fn forget_unused_node(store: &DynStore) -> Result<bool, Error> {
    if holds_channel_manager(store).await? {
        return Ok(false);
    }
    let monitors = store
        .list(
            CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
            CHANNEL_MONITOR_PERSISTENCE_SECONDARY_NAMESPACE,
        )
        .await?;
    if !monitors.is_empty() {
        return Ok(false);
    }
    for &(p, s, key) in NODE_STORAGE_LAYOUT {
        let keys = match key {
            Some(k) => vec![k.to_string()],
            None => store.list(p, s).await?,
        };
        for k in keys {
            match store.remove(p, s, &k, false).await {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(true)
}

/// Which node a store belongs to, kept under [`NODE_METADATA_KEY`]. On start the node reads
/// it (or writes it, for a fresh store) and refuses a store of another network or seed with
/// [`NodeMetadata::check`] before handing anything to LDK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeMetadata {
    /// The network the store's channels and wallet live on.
    pub network: Network,
    /// The node id derived from the store's seed.
    pub node_id: PublicKey,
}

impl NodeMetadata {
    /// Format version of [`Self::encode`].
    const VERSION: u8 = 1;

    /// Serialises: version byte, network name length and bytes, 33-byte compressed node id.
    pub fn encode(&self) -> Vec<u8> {
        let name = self.network.as_str().as_bytes();
        let mut out = Vec::with_capacity(2 + name.len() + 33);
        out.push(Self::VERSION);
        // Network names are a few ASCII letters.
        out.push(name.len() as u8);
        out.extend_from_slice(name);
        out.extend_from_slice(&self.node_id.serialize());
        out
    }

    /// Parses what [`Self::encode`] wrote. Anything else is
    /// [`Error::StorageUnavailable`] (a corrupt or foreign store).
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        let corrupt = |why: &str| Error::StorageUnavailable(format!("node metadata {why}"));
        let (&version, rest) = bytes.split_first().ok_or_else(|| corrupt("is empty"))?;
        if version != Self::VERSION {
            return Err(corrupt(&format!("has unknown version {version}")));
        }
        let (&len, rest) = rest.split_first().ok_or_else(|| corrupt("is truncated"))?;
        let len = usize::from(len);
        if rest.len() != len + 33 {
            return Err(corrupt("has the wrong length"));
        }
        let (name, node_id) = rest.split_at(len);
        let network = core::str::from_utf8(name)
            .ok()
            .and_then(|n| n.parse::<Network>().ok())
            .ok_or_else(|| corrupt("names an unknown network"))?;
        let node_id =
            PublicKey::from_slice(node_id).map_err(|_| corrupt("holds an invalid node id"))?;
        Ok(NodeMetadata { network, node_id })
    }

    /// Refuses a store that belongs to another network ([`Error::WrongNetwork`]) or another
    /// seed ([`Error::InvalidConfig`]). `self` is what the store says, `expected` what the
    /// node was started with.
    pub fn check(&self, expected: &NodeMetadata) -> Result<(), Error> {
        if self.network != expected.network {
            return Err(Error::WrongNetwork(format!(
                "the store belongs to a {} node, this node runs on {}",
                self.network, expected.network
            )));
        }
        if self.node_id != expected.node_id {
            return Err(Error::InvalidConfig(format!(
                "the store belongs to node {}, the seed gives node {}",
                self.node_id, expected.node_id
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lightning::bitcoin::secp256k1::{Secp256k1, SecretKey};

    #[test]
    fn layout_is_valid_and_collision_free() {
        use std::collections::HashSet;
        // A level is a (primary, secondary) pair; a name at a level is either a key or a
        // namespace (a directory in the filesystem store). Two keys, or a key and a
        // namespace, must never share a name at one level.
        let mut keys = HashSet::new();
        let mut dirs = HashSet::new();
        for &(p, s, key) in NODE_STORAGE_LAYOUT {
            check_namespace_key(p, s, key).unwrap();
            if !p.is_empty() {
                dirs.insert(("", "", p));
            }
            if !s.is_empty() {
                dirs.insert((p, "", s));
            }
            if let Some(k) = key {
                assert!(keys.insert((p, s, k)), "{p}/{s}/{k} listed twice");
            }
        }
        let clashes: Vec<_> = keys.intersection(&dirs).collect();
        assert!(
            clashes.is_empty(),
            "keys named like namespaces: {clashes:?}"
        );
        // Spot-check LDK's values did not move under us.
        assert_eq!(CHANNEL_MANAGER_PERSISTENCE_KEY, "manager");
        assert_eq!(CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE, "monitors");
    }

    #[test]
    fn holds_node_only_once_metadata_is_written() {
        let store = memory::MemoryStore::new();
        let holds =
            |s: &memory::MemoryStore| test_utils::block_on(holds_node(s as &DynStore)).unwrap();
        assert!(!holds(&store));
        let meta = NodeMetadata {
            network: Network::Regtest,
            node_id: PublicKey::from_secret_key(
                &Secp256k1::new(),
                &SecretKey::from_slice(&[7; 32]).unwrap(),
            ),
        };
        test_utils::block_on(KVStore::write(
            &store,
            NODE_METADATA_PRIMARY_NAMESPACE,
            NODE_METADATA_SECONDARY_NAMESPACE,
            NODE_METADATA_KEY,
            meta.encode(),
        ))
        .unwrap();
        assert!(holds(&store));
    }

    #[test]
    fn an_unused_node_is_forgotten_a_used_one_never() {
        use test_utils::block_on;
        let store = memory::MemoryStore::new();
        let put =
            |p: &str, s: &str, k: &str| block_on(KVStore::write(&store, p, s, k, vec![1])).unwrap();
        put(
            NODE_METADATA_PRIMARY_NAMESPACE,
            NODE_METADATA_SECONDARY_NAMESPACE,
            NODE_METADATA_KEY,
        );
        put(
            SEED_PERSISTENCE_PRIMARY_NAMESPACE,
            SEED_PERSISTENCE_SECONDARY_NAMESPACE,
            SEED_PERSISTENCE_KEY,
        );
        put(
            BDK_WALLET_PERSISTENCE_PRIMARY_NAMESPACE,
            BDK_WALLET_PERSISTENCE_SECONDARY_NAMESPACE,
            BDK_WALLET_CHANGESET_KEY,
        );
        put(
            PAYMENT_STORE_PERSISTENCE_PRIMARY_NAMESPACE,
            PAYMENT_STORE_PERSISTENCE_SECONDARY_NAMESPACE,
            "p1",
        );
        put("unrelated", "", "k");
        assert!(block_on(holds_node(&store)).unwrap());
        assert!(block_on(forget_unused_node(&store)).unwrap());
        assert!(!block_on(holds_node(&store)).unwrap());
        for (p, s) in [("", ""), (PAYMENT_STORE_PERSISTENCE_PRIMARY_NAMESPACE, "")] {
            assert!(
                block_on(KVStore::list(&store, p, s)).unwrap().is_empty(),
                "{p}/{s}"
            );
        }
        assert_eq!(
            block_on(KVStore::list(&store, "unrelated", "")).unwrap(),
            vec!["k"]
        );

        // A node that ran (a monitor, or a manager) is never touched.
        put(
            NODE_METADATA_PRIMARY_NAMESPACE,
            NODE_METADATA_SECONDARY_NAMESPACE,
            NODE_METADATA_KEY,
        );
        put(
            CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
            CHANNEL_MONITOR_PERSISTENCE_SECONDARY_NAMESPACE,
            "m",
        );
        assert!(!block_on(forget_unused_node(&store)).unwrap());
        assert!(block_on(holds_node(&store)).unwrap());
        let other = memory::MemoryStore::new();
        block_on(KVStore::write(
            &other,
            CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
            CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
            CHANNEL_MANAGER_PERSISTENCE_KEY,
            vec![1],
        ))
        .unwrap();
        assert!(!block_on(forget_unused_node(&other)).unwrap());
        assert_eq!(
            block_on(KVStore::list(
                &other,
                CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
                CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE
            ))
            .unwrap()
            .len(),
            1
        );
    }

    #[test]
    fn namespace_and_key_rules() {
        assert!(check_namespace_key("", "", Some("k")).is_ok());
        assert!(check_namespace_key("a", "", Some("k")).is_ok());
        assert!(check_namespace_key("a", "b", Some("k")).is_ok());
        assert!(check_namespace_key("", "", None).is_ok());
        assert!(check_namespace_key("a", "b", None).is_ok());
        let max = "x".repeat(KVSTORE_NAMESPACE_KEY_MAX_LEN);
        assert!(check_namespace_key(&max, &max, Some(&max)).is_ok());
        assert!(check_namespace_key("a", "", Some(KVSTORE_NAMESPACE_KEY_ALPHABET)).is_ok());

        let long = "x".repeat(KVSTORE_NAMESPACE_KEY_MAX_LEN + 1);
        for (p, s, k) in [
            ("", "", Some("")),
            ("", "b", Some("k")),
            ("", "b", None),
            ("a/b", "", Some("k")),
            ("a", "..", Some("k")),
            ("a", "", Some("a.b")),
            ("a", "", Some("é")),
            ("a", "", Some("a b")),
            ("a", "", Some(long.as_str())),
            (long.as_str(), "", None),
        ] {
            let err = check_namespace_key(p, s, k).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{p:?}/{s:?}/{k:?}");
        }
        // Long garbage is cut short in the message.
        let huge = "/".repeat(10_000);
        let msg = check_namespace_key(&huge, "", None)
            .unwrap_err()
            .to_string();
        assert!(msg.len() < 1_000, "{}", msg.len());
    }

    #[test]
    fn storage_errors_map_to_storage_unavailable() {
        let e: Error = io::Error::new(io::ErrorKind::Other, "disk on fire").into();
        assert_eq!(e.code(), "STORAGE_UNAVAILABLE");
        assert!(e.to_string().contains("disk on fire"), "{e}");
        let e: Error = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "no").into();
        assert_eq!(e.code(), "STORAGE_UNAVAILABLE");
    }

    fn node_id(byte: u8) -> PublicKey {
        let sk = SecretKey::from_slice(&[byte; 32]).unwrap();
        PublicKey::from_secret_key(&Secp256k1::new(), &sk)
    }

    #[test]
    fn node_metadata_round_trips_and_refuses_other_nodes() {
        for network in Network::ALL {
            let m = NodeMetadata {
                network,
                node_id: node_id(1),
            };
            assert_eq!(NodeMetadata::decode(&m.encode()).unwrap(), m);
            m.check(&m).unwrap();
        }
        let ours = NodeMetadata {
            network: Network::Regtest,
            node_id: node_id(1),
        };
        let other_net = NodeMetadata {
            network: Network::Signet,
            ..ours
        };
        assert_eq!(other_net.check(&ours).unwrap_err().code(), "WRONG_NETWORK");
        let other_seed = NodeMetadata {
            node_id: node_id(2),
            ..ours
        };
        assert_eq!(
            other_seed.check(&ours).unwrap_err().code(),
            "INVALID_CONFIG"
        );

        let good = ours.encode();
        let mut bad_version = good.clone();
        bad_version[0] = 9;
        let mut bad_net = good.clone();
        bad_net[2] = b'X';
        let mut bad_key = good.clone();
        let last = bad_key.len() - 33;
        bad_key[last] = 0x05;
        for bad in [
            &[][..],
            &[1][..],
            &good[..good.len() - 1],
            &bad_version,
            &bad_net,
            &bad_key,
        ] {
            let err = NodeMetadata::decode(bad).unwrap_err();
            assert_eq!(err.code(), "STORAGE_UNAVAILABLE", "{bad:?}");
        }
    }
}
