//! The payment store: every payment the node sent or received, one record per payment id,
//! each kept under its own key in [`PAYMENT_STORE_PERSISTENCE_PRIMARY_NAMESPACE`] (the hex id)
//! as JSON. A change is written before the call that made it returns.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};

use crate::io::{
    DynStore, PAYMENT_STORE_PERSISTENCE_PRIMARY_NAMESPACE,
    PAYMENT_STORE_PERSISTENCE_SECONDARY_NAMESPACE,
};
use crate::{runtime, Error};

/// How a payment was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PaymentKind {
    /// A BOLT11 invoice.
    Bolt11,
    /// A keysend (spontaneous) payment.
    Spontaneous,
}

/// Which way the money went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PaymentDirection {
    /// Received by this node.
    Inbound,
    /// Sent by this node.
    Outbound,
}

/// Where a payment stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PaymentStatus {
    /// In flight, or an invoice not paid yet.
    Pending,
    /// Settled: the preimage is known.
    Succeeded,
    /// Failed for good.
    Failed,
}

/// One payment. Hashes, preimages and ids are lowercase hex.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentDetails {
    /// The payment id: the payment hash for BOLT11 payments, random for keysend.
    pub id: String,
    /// How it was made.
    pub kind: PaymentKind,
    /// Which way.
    pub direction: PaymentDirection,
    /// Where it stands.
    pub status: PaymentStatus,
    /// The amount to the payee, without fees (received amount for inbound payments); `None`
    /// for a variable-amount invoice not yet paid.
    pub amount_msat: Option<u64>,
    /// Routing fees paid (outbound, once succeeded).
    pub fee_paid_msat: Option<u64>,
    /// The payment hash.
    pub payment_hash: String,
    /// The preimage, once known.
    pub preimage: Option<String>,
    /// The invoice, for BOLT11 payments.
    pub invoice: Option<String>,
    /// Why it failed.
    pub failure_reason: Option<String>,
    /// Unix time it was created.
    pub created_at: u64,
    /// Unix time of the last change.
    pub updated_at: u64,
}

impl PaymentDetails {
    /// A new record, Pending, created (and last changed) at `created_at`.
    pub(crate) fn pending(
        id: String,
        kind: PaymentKind,
        direction: PaymentDirection,
        payment_hash: String,
        amount_msat: Option<u64>,
        created_at: u64,
    ) -> Self {
        PaymentDetails {
            id,
            kind,
            direction,
            status: PaymentStatus::Pending,
            amount_msat,
            fee_paid_msat: None,
            payment_hash,
            preimage: None,
            invoice: None,
            failure_reason: None,
            created_at,
            updated_at: created_at,
        }
    }
}

/// All payments, in memory and in the store.
pub struct PaymentStore {
    payments: Mutex<HashMap<String, PaymentDetails>>,
    store: Arc<DynStore>,
}

impl PaymentStore {
    /// Reads every stored payment.
    pub async fn load(store: Arc<DynStore>) -> Result<Self, Error> {
        let (p, s) = (
            PAYMENT_STORE_PERSISTENCE_PRIMARY_NAMESPACE,
            PAYMENT_STORE_PERSISTENCE_SECONDARY_NAMESPACE,
        );
        let mut payments = HashMap::new();
        let keys = store.list(p, s).await?;
        // Every read is asked for before the first is awaited: a store that starts its work
        // when called (IndexedDB) then runs them together, and a wallet with a long history
        // does not open one round trip per payment.
        let reads: Vec<_> = keys.iter().map(|key| store.read(p, s, key)).collect();
        for (key, read) in keys.iter().zip(reads) {
            let bytes = read.await?;
            let details: PaymentDetails = serde_json::from_slice(&bytes).map_err(|e| {
                Error::StorageUnavailable(format!("stored payment {key} is corrupt: {e}"))
            })?;
            payments.insert(details.id.clone(), details);
        }
        Ok(PaymentStore {
            payments: Mutex::new(payments),
            store,
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, PaymentDetails>> {
        self.payments.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One payment.
    pub fn get(&self, id: &str) -> Option<PaymentDetails> {
        self.lock().get(id).cloned()
    }

    /// Every payment, oldest first.
    pub fn list(&self) -> Vec<PaymentDetails> {
        let mut all: Vec<_> = self.lock().values().cloned().collect();
        all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        all
    }

    /// Stores `details` (new or replacing the record with its id) and waits for the write.
    /// When the write fails the record in memory goes back to what is stored, so nobody
    /// acts on a status that would be lost.
    pub async fn upsert(&self, mut details: PaymentDetails) -> Result<(), Error> {
        details.updated_at = runtime::now().as_secs();
        let (write, previous) = {
            let mut payments = self.lock();
            let bytes = serde_json::to_vec(&details)
                .map_err(|e| Error::Internal(format!("serialising a payment: {e}")))?;
            let write = self.store.write(
                PAYMENT_STORE_PERSISTENCE_PRIMARY_NAMESPACE,
                PAYMENT_STORE_PERSISTENCE_SECONDARY_NAMESPACE,
                &details.id,
                bytes,
            );
            let previous = payments.insert(details.id.clone(), details.clone());
            (write, previous)
        };
        if let Err(e) = write.await {
            let mut payments = self.lock();
            // Unless a later change replaced it meanwhile.
            if payments.get(&details.id) == Some(&details) {
                match previous {
                    Some(p) => payments.insert(details.id.clone(), p),
                    None => payments.remove(&details.id),
                };
            }
            return Err(Error::from(e));
        }
        Ok(())
    }

    /// Applies `change` to the payment `id`, if it exists, and stores the result. Returns the
    /// updated record.
    pub async fn update(
        &self,
        id: &str,
        change: impl FnOnce(&mut PaymentDetails),
    ) -> Result<Option<PaymentDetails>, Error> {
        let Some(mut details) = self.get(id) else {
            return Ok(None);
        };
        change(&mut details);
        self.upsert(details.clone()).await?;
        Ok(Some(details))
    }
}

// tokio runs these natively; the browser runs the store suite in web_indexeddb.rs.
#[cfg(all(test, not(target_arch = "wasm32")))]
// Stores are !Send without LDK's `std` (DESIGN.md §6); these tests are single-threaded.
#[allow(clippy::arc_with_non_send_sync)]
mod tests {
    use super::*;
    use crate::io::MemoryStore;

    fn payment(id: &str, created_at: u64) -> PaymentDetails {
        PaymentDetails {
            id: id.into(),
            kind: PaymentKind::Bolt11,
            direction: PaymentDirection::Outbound,
            status: PaymentStatus::Pending,
            amount_msat: Some(1_000),
            fee_paid_msat: None,
            payment_hash: id.into(),
            preimage: None,
            invoice: None,
            failure_reason: None,
            created_at,
            updated_at: created_at,
        }
    }

    #[tokio::test]
    async fn payments_survive_a_reload_and_updates_are_stored() {
        let store: Arc<DynStore> = Arc::new(MemoryStore::new());
        let payments = PaymentStore::load(Arc::clone(&store)).await.unwrap();
        payments.upsert(payment("bb", 2)).await.unwrap();
        payments.upsert(payment("aa", 1)).await.unwrap();
        let updated = payments
            .update("bb", |p| {
                p.status = PaymentStatus::Succeeded;
                p.fee_paid_msat = Some(7);
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(updated.status, PaymentStatus::Succeeded);
        assert!(payments.update("cc", |_| {}).await.unwrap().is_none());

        let reloaded = PaymentStore::load(store).await.unwrap();
        let ids: Vec<_> = reloaded.list().into_iter().map(|p| p.id).collect();
        assert_eq!(ids, ["aa", "bb"]);
        assert_eq!(reloaded.get("bb").unwrap().fee_paid_msat, Some(7));
    }

    #[tokio::test]
    async fn a_failed_write_leaves_the_stored_record() {
        let full = Arc::new(crate::io::test_utils::FullStore::default());
        let payments = PaymentStore::load(full.clone()).await.unwrap();
        payments.upsert(payment("aa", 1)).await.unwrap();
        full.set_full(true);
        let err = payments
            .update("aa", |p| p.status = PaymentStatus::Succeeded)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "STORAGE_UNAVAILABLE");
        assert!(payments.upsert(payment("bb", 2)).await.is_err());
        // Memory shows what is stored, not what failed to be.
        assert_eq!(payments.get("aa").unwrap().status, PaymentStatus::Pending);
        assert!(payments.get("bb").is_none());
        full.set_full(false);
        let reloaded = PaymentStore::load(full).await.unwrap();
        assert_eq!(reloaded.list(), payments.list());
    }

    #[tokio::test]
    async fn a_corrupt_record_is_a_storage_error() {
        let store: Arc<DynStore> = Arc::new(MemoryStore::new());
        store
            .write(
                PAYMENT_STORE_PERSISTENCE_PRIMARY_NAMESPACE,
                "",
                "aa",
                b"{".to_vec(),
            )
            .await
            .unwrap();
        let err = PaymentStore::load(store).await.err().unwrap();
        assert_eq!(err.code(), "STORAGE_UNAVAILABLE");
    }
}
