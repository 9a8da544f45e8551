//! The node's events and their persisted queue.
//!
//! LDK's events are handled inside the node ([`crate::node`]); those an application cares
//! about become an [`Event`] here and are queued in the store before LDK is told the event was
//! handled, so none is lost by a crash or a closed tab. The application reads them with
//! `Node::next_event` / `Node::wait_next_event` and acknowledges each one by its [`EventId`]
//! with `Node::event_handled`; an unacknowledged event is delivered again after a restart.
//!
//! Only the oldest event can be acknowledged, and only by its id: a consumer that saw an event
//! another consumer already acknowledged gets `UNKNOWN_EVENT` instead of silently
//! acknowledging the next one, which it never saw.

use std::collections::VecDeque;
use std::fmt;
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
        /// The amount received (after the LSP's fee, for a JIT channel).
        amount_msat: u64,
        /// What the LSP withheld as its JIT channel's opening fee (0 otherwise).
        #[serde(default)]
        fee_msat: u64,
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
    /// A payment to a hold invoice ([`crate::payment::Bolt11Payment::receive_for_hash`])
    /// arrived and waits: claim it with the preimage
    /// ([`crate::payment::Bolt11Payment::claim_for_hash`]) or fail it back before
    /// `claim_deadline`, or the peer force-closes the channel to take it back on-chain.
    PaymentClaimable {
        /// The payment id (its hash).
        payment_id: String,
        /// The payment hash.
        payment_hash: String,
        /// What claiming it brings.
        claimable_amount_msat: u64,
        /// The block height by which it must be claimed or failed.
        claim_deadline: Option<u32>,
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

/// An event's id: unique within the node's store and never reused, so an id someone kept
/// cannot come to mean a later event. Shown in JavaScript as a decimal string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(pub u64);

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl core::str::FromStr for EventId {
    type Err = Error;

    /// Any text that is not an id this node could have issued is `UNKNOWN_EVENT`.
    fn from_str(s: &str) -> Result<Self, Error> {
        s.parse()
            .map(EventId)
            .map_err(|_| Error::UnknownEvent(format!("{s:?} is not an event id")))
    }
}

/// An [`Event`] waiting in the queue, with the id that acknowledges it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingEvent {
    /// What `Node::event_handled` takes.
    pub id: EventId,
    /// The event.
    pub event: Event,
}

/// The queue as stored: the events and the next id to issue (kept, so ids are not reused
/// once the queue empties).
#[derive(Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredQueue {
    next_id: u64,
    events: VecDeque<PendingEvent>,
}

impl StoredQueue {
    /// Reads either form: the current object, or the bare array of events stored before
    /// events had ids. Those get ids 1, 2, … in queue order: the same ids on every load until
    /// the queue is next written (in the current form).
    fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        let value: serde_json::Value = serde_json::from_slice(bytes)?;
        if value.is_array() {
            let events: Vec<Event> = serde_json::from_value(value)?;
            let events: VecDeque<_> = (1..)
                .map(EventId)
                .zip(events)
                .map(|(id, event)| PendingEvent { id, event })
                .collect();
            Ok(StoredQueue {
                next_id: events.len() as u64 + 1,
                events,
            })
        } else {
            let mut queue: StoredQueue = serde_json::from_value(value)?;
            // Never below an id in use, whatever the stored counter says.
            let above = queue.events.iter().map(|p| p.id.0 + 1).max().unwrap_or(1);
            queue.next_id = queue.next_id.max(above);
            Ok(queue)
        }
    }
}

/// The persisted queue of [`Event`]s not yet acknowledged.
pub struct EventQueue {
    queue: Mutex<StoredQueue>,
    store: Arc<DynStore>,
}

impl EventQueue {
    /// Loads the queue from `store` (empty when there is none).
    pub async fn load(store: Arc<DynStore>) -> Result<Self, Error> {
        let queue = match crate::io::read_optional(
            &*store,
            EVENT_QUEUE_PERSISTENCE_PRIMARY_NAMESPACE,
            EVENT_QUEUE_PERSISTENCE_SECONDARY_NAMESPACE,
            EVENT_QUEUE_PERSISTENCE_KEY,
        )
        .await?
        {
            Some(bytes) => StoredQueue::from_json(&bytes).map_err(|e| {
                Error::StorageUnavailable(format!("stored event queue is corrupt: {e}"))
            })?,
            None => StoredQueue {
                next_id: 1,
                events: VecDeque::new(),
            },
        };
        Ok(EventQueue {
            queue: Mutex::new(queue),
            store,
        })
    }

    fn lock(&self) -> MutexGuard<'_, StoredQueue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes the queue as it is under the lock (so writes are issued in the order of the
    /// changes) and returns the write to await after releasing it.
    fn write(
        &self,
        queue: &StoredQueue,
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

    /// Appends `event` under a new id and returns that id once it is stored. On a storage
    /// error the event is not queued, in memory either (LDK then hands its own event over
    /// again, which must not deliver it twice).
    pub async fn push(&self, event: Event) -> Result<EventId, Error> {
        let (id, write) = {
            let mut queue = self.lock();
            let id = EventId(queue.next_id);
            // An id is never issued twice, even if this write fails.
            queue.next_id += 1;
            queue.events.push_back(PendingEvent { id, event });
            match self.write(&queue) {
                Ok(w) => (id, w),
                Err(e) => {
                    queue.events.pop_back();
                    return Err(e);
                }
            }
        };
        if let Err(e) = write.await {
            self.lock().events.retain(|p| p.id != id);
            return Err(Error::from(e));
        }
        Ok(id)
    }

    /// Whether `event` waits in the queue (not yet handled), whatever its id.
    pub fn contains(&self, event: &Event) -> bool {
        self.lock().events.iter().any(|p| p.event == *event)
    }

    /// The oldest unacknowledged event.
    pub fn next(&self) -> Option<PendingEvent> {
        self.lock().events.front().cloned()
    }

    /// Waits for an event (polling every 10 ms: one thread, no condition variables).
    pub async fn wait_next(&self) -> PendingEvent {
        loop {
            if let Some(e) = self.next() {
                return e;
            }
            runtime::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Removes event `id`, once it is stored without it. Only the oldest event can be
    /// acknowledged (it is the only one [`EventQueue::next`] shows); any other id is
    /// `UNKNOWN_EVENT`: already acknowledged (by another consumer?), not delivered yet, or
    /// never issued. On a storage error the event stays queued.
    pub async fn handled(&self, id: EventId) -> Result<(), Error> {
        let (handled, write) = {
            let mut queue = self.lock();
            let front = queue.events.front().map(|p| p.id);
            if front != Some(id) {
                return Err(Error::UnknownEvent(match front {
                    _ if id.0 >= queue.next_id => format!("no event {id} was ever queued"),
                    Some(front) if id > front => format!(
                        "event {id} was not delivered yet: the oldest pending event is {front}"
                    ),
                    _ => format!("event {id} was already handled"),
                }));
            }
            let handled = queue.events.pop_front();
            match self.write(&queue) {
                Ok(w) => (handled, w),
                Err(e) => {
                    if let Some(p) = handled {
                        queue.events.push_front(p);
                    }
                    return Err(e);
                }
            }
        };
        if let Err(e) = write.await {
            // Not acknowledged: deliver it again (unless another acknowledgement raced it).
            let mut queue = self.lock();
            if let Some(p) = handled {
                if queue.events.front().is_none_or(|f| f.id > p.id) {
                    queue.events.push_front(p);
                }
            }
            return Err(Error::from(e));
        }
        Ok(())
    }

    /// How many events wait.
    pub fn len(&self) -> usize {
        self.lock().events.len()
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

    fn ids(q: &EventQueue) -> Vec<u64> {
        q.lock().events.iter().map(|p| p.id.0).collect()
    }

    #[tokio::test]
    async fn events_are_delivered_in_order_until_handled_across_reloads() {
        let store: Arc<DynStore> = Arc::new(MemoryStore::new());
        let q = EventQueue::load(Arc::clone(&store)).await.unwrap();
        assert!(q.is_empty());
        let one = q.push(ready(1)).await.unwrap();
        let two = q.push(ready(2)).await.unwrap();
        assert_ne!(one, two);
        let next = q.next().unwrap();
        assert_eq!((next.id, &next.event), (one, &ready(1)));
        assert_eq!(q.next(), Some(next), "delivered until handled");

        let q = EventQueue::load(Arc::clone(&store)).await.unwrap();
        assert_eq!(q.len(), 2);
        assert_eq!(
            q.next().unwrap().id,
            one,
            "ids are stored with their events"
        );
        q.handled(one).await.unwrap();
        let next = q.wait_next().await;
        assert_eq!((next.id, next.event), (two, ready(2)));
        let q = EventQueue::load(Arc::clone(&store)).await.unwrap();
        assert_eq!(q.next().map(|p| p.id), Some(two));
        q.handled(two).await.unwrap();
        let q = EventQueue::load(store).await.unwrap();
        assert!(q.is_empty());
        // The counter survives an empty queue: an old id never comes to mean a new event.
        let three = q.push(ready(3)).await.unwrap();
        assert!(three > two, "{three} after {two}");
    }

    #[tokio::test]
    async fn only_the_delivered_event_is_acknowledged_by_its_id() {
        let store: Arc<DynStore> = Arc::new(MemoryStore::new());
        let q = EventQueue::load(Arc::clone(&store)).await.unwrap();
        let one = q.push(ready(1)).await.unwrap();
        let two = q.push(ready(2)).await.unwrap();
        // Two consumers saw event one; the first acknowledges it.
        let seen = q.next().unwrap().id;
        q.handled(seen).await.unwrap();
        // The second one's acknowledgement must not take event two, which it never saw.
        let stale = q.handled(seen).await.unwrap_err();
        assert_eq!(stale.code(), "UNKNOWN_EVENT");
        assert!(stale.to_string().contains("already handled"), "{stale}");
        assert_eq!(ids(&q), [two.0]);
        // Nor can an event be acknowledged before it is delivered, or one never issued.
        q.push(ready(3)).await.unwrap();
        let later = q.lock().events[1].id;
        let early = q.handled(later).await.unwrap_err();
        assert_eq!(early.code(), "UNKNOWN_EVENT");
        assert!(early.to_string().contains("not delivered yet"), "{early}");
        let unknown = q.handled(EventId(1_000)).await.unwrap_err();
        assert_eq!(unknown.code(), "UNKNOWN_EVENT");
        assert_eq!(ids(&q), [two.0, later.0]);
        assert_eq!("x".parse::<EventId>().unwrap_err().code(), "UNKNOWN_EVENT");
        assert_eq!(two.to_string().parse::<EventId>().unwrap(), two);
        // Stored the same way.
        let q = EventQueue::load(store).await.unwrap();
        assert_eq!(ids(&q), [two.0, later.0]);
        assert!(q.handled(one).await.is_err());
    }

    #[tokio::test]
    async fn a_queue_stored_without_ids_still_loads_and_gets_stable_ids() {
        let store: Arc<DynStore> = Arc::new(MemoryStore::new());
        // What the queue looked like before events had ids: a bare array of events.
        let legacy = br#"[{"type":"channelReady","channelId":"01","userChannelId":"01","counterpartyNodeId":"02"},
            {"type":"paymentSuccessful","paymentId":"aa","paymentHash":"bb","preimage":"cc","feePaidMsat":null}]"#;
        store
            .write(
                EVENT_QUEUE_PERSISTENCE_PRIMARY_NAMESPACE,
                EVENT_QUEUE_PERSISTENCE_SECONDARY_NAMESPACE,
                EVENT_QUEUE_PERSISTENCE_KEY,
                legacy.to_vec(),
            )
            .await
            .unwrap();
        let q = EventQueue::load(Arc::clone(&store)).await.unwrap();
        assert_eq!(ids(&q), [1, 2]);
        assert_eq!(q.next().unwrap().event, ready(1));
        // Loaded again before any write: the same ids.
        let q = EventQueue::load(Arc::clone(&store)).await.unwrap();
        assert_eq!(ids(&q), [1, 2]);
        q.handled(EventId(1)).await.unwrap();
        let new = q.push(ready(9)).await.unwrap();
        assert_eq!(new, EventId(3), "no id of a migrated event is reused");
        let q = EventQueue::load(store).await.unwrap();
        assert_eq!(ids(&q), [2, 3]);
        assert!(matches!(
            q.next().unwrap().event,
            Event::PaymentSuccessful { .. }
        ));
    }

    #[tokio::test]
    async fn an_event_whose_write_failed_is_not_queued() {
        let full = Arc::new(crate::io::test_utils::FullStore::default());
        let store: Arc<DynStore> = full.clone();
        let q = EventQueue::load(Arc::clone(&store)).await.unwrap();
        let one = q.push(ready(1)).await.unwrap();
        full.set_full(true);
        assert!(q.push(ready(2)).await.is_err());
        // LDK hands its event over again: it must end up queued once.
        assert_eq!(q.len(), 1);
        // An acknowledgement that could not be stored leaves the event pending.
        assert!(q.handled(one).await.is_err());
        assert_eq!(q.next().map(|p| p.id), Some(one));
        full.set_full(false);
        let two = q.push(ready(2)).await.unwrap();
        assert_eq!(q.len(), 2);
        let q = EventQueue::load(store).await.unwrap();
        assert_eq!(q.next().map(|p| p.event), Some(ready(1)));
        q.handled(one).await.unwrap();
        assert_eq!(q.next().map(|p| p.event), Some(ready(2)));
        q.handled(two).await.unwrap();
        assert!(q.is_empty());
    }

    #[test]
    fn events_serialise_with_a_type_tag_in_camel_case() {
        let json = serde_json::to_value(Event::PaymentReceived {
            payment_id: "aa".into(),
            payment_hash: "aa".into(),
            amount_msat: 5,
            fee_msat: 0,
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
