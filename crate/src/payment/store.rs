//! The payment store: every payment the node sent or received, one record per payment id,
//! each kept under its own key in [`PAYMENT_STORE_PERSISTENCE_PRIMARY_NAMESPACE`] (the hex id)
//! as JSON. A change is written before the call that made it returns.
//!
//! Inbound and outbound payments never share a record: an outbound BOLT11 payment's id is the
//! invoice's payment hash, and so is an inbound payment's, unless a payment we sent already
//! holds that id ([`inbound_id`]). Incoming payments whose hash is that of a payment we sent,
//! or of one we already received, are refused ([`judge_incoming`]).

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
    /// A BOLT12 offer or refund. This node makes neither yet; LDK could still report one.
    Bolt12,
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
    /// A payment to a hold invoice that arrived and waits to be settled: what claiming it
    /// brings (`None` otherwise, and once settled or failed back).
    #[serde(default)]
    pub claimable_amount_msat: Option<u64>,
    /// A payment received through a JIT channel: what the LSP withheld as its channel opening
    /// fee (`amount_msat` is what arrived, after it). `None` for other payments.
    #[serde(default)]
    pub fee_msat: Option<u64>,
    /// An invoice to be paid through a JIT channel: the LSP's quoted opening fee, the most it
    /// may withhold from the payment (more, and the payment is failed back). `None` for other
    /// payments.
    #[serde(default)]
    pub lsp_fee_limit_msat: Option<u64>,
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
            claimable_amount_msat: None,
            fee_msat: None,
            lsp_fee_limit_msat: None,
            created_at,
            updated_at: created_at,
        }
    }
}

/// What to do with an incoming payment (LDK's `PaymentClaimable`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Incoming {
    /// Take it.
    Claim,
    /// Fail it back to the payer, for this reason.
    Refuse(&'static str),
}

/// Judges an incoming payment by the record kept under its payment hash (`existing`): one we
/// already received is not taken twice (an invoice is paid once; a second payer gets their
/// money back), and one whose hash is that of a payment we sent is refused (as ldk-node:
/// the two would share the hash's record, and taking it would only profit from a preimage
/// we learnt by paying).
pub(crate) fn judge_incoming(existing: Option<&PaymentDetails>) -> Incoming {
    match existing {
        None => Incoming::Claim,
        Some(p) if p.direction == PaymentDirection::Outbound => {
            Incoming::Refuse("its payment hash is that of a payment this node sent")
        }
        Some(p) if p.status == PaymentStatus::Succeeded => {
            Incoming::Refuse("this payment hash was already paid to this node")
        }
        Some(_) => Incoming::Claim,
    }
}

/// The record id of a payment received with `payment_hash` (hex): the hash itself, unless
/// `at_hash`, the record kept under that id, is a payment we sent; then an id derived from
/// the hash (the same on every replay of the event), so the two never merge.
pub(crate) fn inbound_id(payment_hash: &[u8; 32], at_hash: Option<&PaymentDetails>) -> String {
    use crate::bitcoin::hashes::{sha256, Hash, HashEngine};
    use crate::bitcoin::hex::DisplayHex;
    match at_hash {
        Some(p) if p.direction == PaymentDirection::Outbound => {
            let mut engine = sha256::Hash::engine();
            engine.input(b"wasm-ln inbound payment id");
            engine.input(payment_hash);
            sha256::Hash::from_engine(engine)
                .to_byte_array()
                .as_hex()
                .to_string()
        }
        _ => payment_hash.as_hex().to_string(),
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
            claimable_amount_msat: None,
            fee_msat: None,
            lsp_fee_limit_msat: None,
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

    #[test]
    fn incoming_payments_never_take_a_sent_or_paid_record() {
        let hash = [0xab; 32];
        let hex = "ab".repeat(32);
        let mut sent = payment(&hex, 1);
        assert_eq!(judge_incoming(None), Incoming::Claim);
        assert!(matches!(judge_incoming(Some(&sent)), Incoming::Refuse(_)));
        sent.status = PaymentStatus::Succeeded;
        assert!(matches!(judge_incoming(Some(&sent)), Incoming::Refuse(_)));
        // Our invoice, not yet paid: taken; once paid: refused.
        let mut invoice = payment(&hex, 1);
        invoice.direction = PaymentDirection::Inbound;
        assert_eq!(judge_incoming(Some(&invoice)), Incoming::Claim);
        invoice.status = PaymentStatus::Succeeded;
        assert!(matches!(
            judge_incoming(Some(&invoice)),
            Incoming::Refuse(_)
        ));

        // A claim LDK reports anyway (made before our record) gets its own record.
        assert_eq!(inbound_id(&hash, None), hex);
        assert_eq!(inbound_id(&hash, Some(&invoice)), hex);
        let derived = inbound_id(&hash, Some(&sent));
        assert_ne!(derived, hex);
        assert_eq!(derived.len(), 64);
        assert_eq!(inbound_id(&hash, Some(&sent)), derived, "stable on replay");
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
