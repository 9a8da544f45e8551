//! The node's events and their persisted queue.
//!
//! LDK's events are handled inside the node ([`crate::node`]); those an application cares
//! about become an [`Event`] here and are queued in the store before LDK is told the event was
//! handled, so none is lost by a crash or a closed tab. The application reads them with
//! `Node::next_event` / `Node::wait_next_event` and acknowledges each one with
//! `Node::event_handled`; an unacknowledged event is delivered again after a restart.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::io::{
    DynStore, EVENT_QUEUE_PERSISTENCE_KEY, EVENT_QUEUE_PERSISTENCE_PRIMARY_NAMESPACE,
    EVENT_QUEUE_PERSISTENCE_SECONDARY_NAMESPACE,
};
use crate::{runtime, Error};

/// Something that happened to the node. Ids, hashes and preimages are lowercase hex.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Event {
    /// A channel's funding transaction was broadcast; it waits for confirmations.
    ChannelPending {
        /// The channel id.
        channel_id: String,
        /// Our id for the channel (what `Node::open_channel` returned).
        user_channel_id: String,
        /// The peer.
        counterparty_node_id: String,
        /// The funding output, `txid:vout`.
        funding_txo: String,
    },
    /// A channel can now be used for payments.
    ChannelReady {
        /// The channel id.
        channel_id: String,
        /// Our id for the channel (what `Node::open_channel` returned).
        user_channel_id: String,
        /// The peer.
        counterparty_node_id: String,
    },
    /// A channel was closed (or failed to open).
    ChannelClosed {
        /// The channel id.
        channel_id: String,
        /// Our id for the channel (what `Node::open_channel` returned).
        user_channel_id: String,
        /// The peer, when known.
        counterparty_node_id: Option<String>,
        /// Why, in words.
        reason: String,
    },
    /// A payment to us was received and settled.
    PaymentReceived {
        /// The payment id (its hash for invoices).
        payment_id: String,
        /// The payment hash.
        payment_hash: String,
        /// The amount received.
        amount_msat: u64,
    },
    /// A payment we sent arrived. (`paymentSucceeded` in JavaScript, as in API.md; queues
    /// written before that name still read.)
    #[serde(rename = "paymentSucceeded", alias = "paymentSuccessful")]
    PaymentSuccessful {
        /// The payment id.
        payment_id: String,
        /// The payment hash.
        payment_hash: String,
        /// The proof of payment.
        preimage: String,
        /// Routing fees paid.
        fee_paid_msat: Option<u64>,
    },
    /// A payment we sent failed for good.
    PaymentFailed {
        /// The payment id.
        payment_id: String,
        /// The payment hash.
        payment_hash: Option<String>,
        /// Why, in words.
        reason: String,
    },
    /// Channel state could not be saved (a full quota, an aborted IndexedDB transaction):
    /// the channels it concerns are paused, new payments are refused
    /// (`STORAGE_UNAVAILABLE`) and the write is tried again until it succeeds
    /// (`Node::status().degraded` says why meanwhile).
    StorageDegraded {
        /// Why, in words.
        reason: String,
    },
    /// Channel state is saved again after a `StorageDegraded`: paused channels resume.
    StorageRecovered {},
}

/// The persisted queue of [`Event`]s not yet acknowledged.
pub struct EventQueue {
    queue: Mutex<VecDeque<Event>>,
    store: Arc<DynStore>,
}

impl EventQueue {
    /// Loads the queue from `store` (empty when there is none).
    pub async fn load(store: Arc<DynStore>) -> Result<Self, Error> {
        let queue = crate::io::read_json_or_default(
            &*store,
            EVENT_QUEUE_PERSISTENCE_PRIMARY_NAMESPACE,
            EVENT_QUEUE_PERSISTENCE_SECONDARY_NAMESPACE,
            EVENT_QUEUE_PERSISTENCE_KEY,
            "event queue",
        )
        .await?;
        Ok(EventQueue {
            queue: Mutex::new(queue),
            store,
        })
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Event>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes the queue as it is under the lock (so writes are issued in the order of the
    /// changes) and returns the write to await after releasing it.
    fn write(
        &self,
        queue: &VecDeque<Event>,
    ) -> Result<lightning::util::async_poll::AsyncResult<'static, (), lightning::io::Error>, Error>
    {
        let bytes = serde_json::to_vec(queue)
            .map_err(|e| Error::Internal(format!("serialising the event queue: {e}")))?;
        Ok(self.store.write(
            EVENT_QUEUE_PERSISTENCE_PRIMARY_NAMESPACE,
            EVENT_QUEUE_PERSISTENCE_SECONDARY_NAMESPACE,
            EVENT_QUEUE_PERSISTENCE_KEY,
            bytes,
        ))
    }

    /// Appends `event` and returns once it is stored. On a storage error the event is not
    /// queued, in memory either (LDK then hands its own event over again, which must not
    /// deliver it twice).
    pub async fn push(&self, event: Event) -> Result<(), Error> {
        let write = {
            let mut queue = self.lock();
            queue.push_back(event.clone());
            match self.write(&queue) {
                Ok(w) => w,
                Err(e) => {
                    queue.pop_back();
                    return Err(e);
                }
            }
        };
        if let Err(e) = write.await {
            let mut queue = self.lock();
            if let Some(i) = queue.iter().rposition(|e| *e == event) {
                queue.remove(i);
            }
            return Err(Error::from(e));
        }
        Ok(())
    }

    /// Whether `event` waits in the queue (not yet handled).
    pub fn contains(&self, event: &Event) -> bool {
        self.lock().contains(event)
    }

    /// The oldest unacknowledged event.
    pub fn next(&self) -> Option<Event> {
        self.lock().front().cloned()
    }

    /// Waits for an event (polling every 10 ms: one thread, no condition variables).
    pub async fn wait_next(&self) -> Event {
        loop {
            if let Some(e) = self.next() {
                return e;
            }
            runtime::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Removes the oldest event, once it is stored without it.
    pub async fn handled(&self) -> Result<(), Error> {
        let write = {
            let mut queue = self.lock();
            if queue.pop_front().is_none() {
                return Ok(());
            }
            self.write(&queue)?
        };
        write.await.map_err(Error::from)
    }

    /// How many events wait.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

// tokio runs these natively; the browser runs the store suite in web_indexeddb.rs.
#[cfg(all(test, not(target_arch = "wasm32")))]
// Stores are !Send without LDK's `std` (DESIGN.md §6); these tests are single-threaded.
#[allow(clippy::arc_with_non_send_sync)]
mod tests {
    use super::*;
    use crate::io::MemoryStore;

    fn ready(n: u8) -> Event {
        Event::ChannelReady {
            channel_id: format!("{n:02x}"),
            user_channel_id: "01".into(),
            counterparty_node_id: "02".into(),
        }
    }

    #[tokio::test]
    async fn events_are_delivered_in_order_until_handled_across_reloads() {
        let store: Arc<DynStore> = Arc::new(MemoryStore::new());
        let q = EventQueue::load(Arc::clone(&store)).await.unwrap();
        assert!(q.is_empty());
        q.push(ready(1)).await.unwrap();
        q.push(ready(2)).await.unwrap();
        assert_eq!(q.next(), Some(ready(1)));
        assert_eq!(q.next(), Some(ready(1)), "delivered until handled");

        let q = EventQueue::load(Arc::clone(&store)).await.unwrap();
        assert_eq!(q.len(), 2);
        q.handled().await.unwrap();
        assert_eq!(q.wait_next().await, ready(2));
        let q = EventQueue::load(Arc::clone(&store)).await.unwrap();
        assert_eq!(q.next(), Some(ready(2)));
        q.handled().await.unwrap();
        q.handled().await.unwrap();
        assert!(EventQueue::load(store).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_event_whose_write_failed_is_not_queued() {
        let full = Arc::new(crate::io::test_utils::FullStore::default());
        let store: Arc<DynStore> = full.clone();
        let q = EventQueue::load(Arc::clone(&store)).await.unwrap();
        q.push(ready(1)).await.unwrap();
        full.set_full(true);
        assert!(q.push(ready(2)).await.is_err());
        // LDK hands its event over again: it must end up queued once.
        assert_eq!(q.len(), 1);
        full.set_full(false);
        q.push(ready(2)).await.unwrap();
        assert_eq!(q.len(), 2);
        let q = EventQueue::load(store).await.unwrap();
        assert_eq!(q.next(), Some(ready(1)));
        q.handled().await.unwrap();
        assert_eq!(q.next(), Some(ready(2)));
        q.handled().await.unwrap();
        assert!(q.is_empty());
    }

    #[test]
    fn events_serialise_with_a_type_tag_in_camel_case() {
        let json = serde_json::to_value(Event::PaymentReceived {
            payment_id: "aa".into(),
            payment_hash: "aa".into(),
            amount_msat: 5,
        })
        .unwrap();
        assert_eq!(json["type"], "paymentReceived");
        assert_eq!(json["amountMsat"], 5);
    }

    #[test]
    fn storage_events_serialise_in_camel_case() {
        let json = serde_json::to_value(Event::StorageDegraded {
            reason: "quota".into(),
        })
        .unwrap();
        assert_eq!(json["type"], "storageDegraded");
        assert_eq!(json["reason"], "quota");
        let json = serde_json::to_value(Event::StorageRecovered {}).unwrap();
        assert_eq!(json, serde_json::json!({"type": "storageRecovered"}));
        assert_eq!(
            serde_json::from_value::<Event>(json).unwrap(),
            Event::StorageRecovered {}
        );
    }

    #[test]
    fn payment_succeeded_keeps_reading_its_old_name() {
        let ev = Event::PaymentSuccessful {
            payment_id: "aa".into(),
            payment_hash: "bb".into(),
            preimage: "cc".into(),
            fee_paid_msat: Some(1),
        };
        let mut json = serde_json::to_value(&ev).unwrap();
        assert_eq!(json["type"], "paymentSucceeded");
        // A queue stored before the rename says `paymentSuccessful`.
        json["type"] = "paymentSuccessful".into();
        assert_eq!(serde_json::from_value::<Event>(json).unwrap(), ev);
    }
}
