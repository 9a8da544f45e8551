//! The peers the node keeps connections to (those we opened channels with or connected to
//! with `persist`), stored as one JSON list so the node reconnects after a restart.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};

use crate::io::{
    DynStore, PEER_STORE_PERSISTENCE_KEY, PEER_STORE_PERSISTENCE_PRIMARY_NAMESPACE,
    PEER_STORE_PERSISTENCE_SECONDARY_NAMESPACE,
};
use crate::Error;

/// A peer to reconnect to: `node_id@host:port`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerRecord {
    /// The peer's node id, hex.
    pub node_id: String,
    /// Its address, `host:port`.
    pub address: String,
}

/// The persisted peer list.
pub struct PeerStore {
    peers: Mutex<Vec<PeerRecord>>,
    store: Arc<DynStore>,
}

impl PeerStore {
    /// Loads the list (empty when none is stored).
    pub async fn load(store: Arc<DynStore>) -> Result<Self, Error> {
        let peers = crate::io::read_json_or_default(
            &*store,
            PEER_STORE_PERSISTENCE_PRIMARY_NAMESPACE,
            PEER_STORE_PERSISTENCE_SECONDARY_NAMESPACE,
            PEER_STORE_PERSISTENCE_KEY,
            "peer list",
        )
        .await?;
        Ok(PeerStore {
            peers: Mutex::new(peers),
            store,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Vec<PeerRecord>> {
        self.peers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every stored peer.
    pub fn list(&self) -> Vec<PeerRecord> {
        self.lock().clone()
    }

    /// The stored address of `node_id`.
    pub fn get(&self, node_id: &str) -> Option<PeerRecord> {
        self.lock().iter().find(|p| p.node_id == node_id).cloned()
    }

    /// Adds or updates a peer; returns once stored.
    pub async fn upsert(&self, record: PeerRecord) -> Result<(), Error> {
        self.change(|peers| {
            peers.retain(|p| p.node_id != record.node_id);
            peers.push(record);
        })
        .await
    }

    /// Forgets a peer; returns once stored.
    pub async fn remove(&self, node_id: &str) -> Result<(), Error> {
        self.change(|peers| peers.retain(|p| p.node_id != node_id))
            .await
    }

    async fn change(&self, f: impl FnOnce(&mut Vec<PeerRecord>)) -> Result<(), Error> {
        let write = {
            let mut peers = self.lock();
            f(&mut peers);
            let bytes = serde_json::to_vec(&*peers)
                .map_err(|e| Error::Internal(format!("serialising the peer list: {e}")))?;
            self.store.write(
                PEER_STORE_PERSISTENCE_PRIMARY_NAMESPACE,
                PEER_STORE_PERSISTENCE_SECONDARY_NAMESPACE,
                PEER_STORE_PERSISTENCE_KEY,
                bytes,
            )
        };
        write.await.map_err(Error::from)
    }
}
