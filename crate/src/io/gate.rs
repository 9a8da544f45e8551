//! [`MonitorGate`]: the store LDK's monitor persister writes through. It does two things a
//! plain store does not.
//!
//! **Manager before monitors.** LDK force-closes a channel whose stored `ChannelManager` is
//! older than its stored `ChannelMonitor` ("A ChannelManager is stale compared to the current
//! ChannelMonitor"). The background processor writes the manager only after the monitor
//! update that made it need writing, so a tab killed between the two loses the channel
//! (`crash_at_every_write` found it: cut after the first monitor update of a payment, the
//! channel was force-closed on restart). The gate queues monitor writes and removals, writes
//! a snapshot of the manager taken after they were queued, and only then lets them reach the
//! store. A manager that is newer than its monitors is what LDK handles: it keeps the updates
//! it had in flight and applies them again on start.
//!
//! **A failed write is retried, not dropped.** LDK 0.2's async persister logs a failed write
//! and forgets it: the update stays `InProgress`, its channel paused until a restart, and LDK
//! never issues it again. The gate keeps the write at the head of its queue and tries it again
//! (with back-off) until the store takes it; only then does the persister's future complete,
//! so LDK acknowledges the update to the peer only once it is durable. Writes to one key
//! stay in call order: the queue is issued one write at a time, and a write that failed is
//! retried before any later one. While a write keeps failing, [`StorageHealth`] says why
//! (`status().degraded`; new payments are refused).

// Without `std` LDK's stores are `!Send` (IndexedDB's futures are); the node runs on one
// thread (DESIGN.md §6).
#![allow(clippy::arc_with_non_send_sync)]

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use lightning::io;
use lightning::util::async_poll::AsyncResult;

use super::{
    FencedStore, KVStore, CHANNEL_MANAGER_PERSISTENCE_KEY,
    CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE, CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
    CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
    CHANNEL_MONITOR_UPDATE_PERSISTENCE_PRIMARY_NAMESPACE,
};
use crate::runtime;

/// The first wait before a failed write is tried again; it doubles up to [`RETRY_MAX`].
const RETRY_MIN: Duration = Duration::from_millis(250);
/// The longest wait between two tries of a failed write.
const RETRY_MAX: Duration = Duration::from_secs(5);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether every write the gate was given reached the store; shared with the node, which
/// reports it (`status().degraded`, events) and refuses new payments while it fails.
#[derive(Default)]
pub struct StorageHealth {
    failing: Mutex<Option<String>>,
    /// Bumped on every change, for watchers.
    changes: AtomicU64,
}

impl StorageHealth {
    /// Why writes fail now, in words; `None` while they succeed.
    pub fn failure(&self) -> Option<String> {
        lock(&self.failing).clone()
    }

    /// Counts changes of [`StorageHealth::failure`].
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    fn set(&self, failing: Option<String>) {
        let mut cur = lock(&self.failing);
        if cur.is_some() != failing.is_some() {
            self.changes.fetch_add(1, Ordering::AcqRel);
        }
        *cur = failing;
    }
}

/// Where a queued write's result goes.
#[derive(Default)]
struct Slot {
    result: Option<Result<(), io::Error>>,
    waker: Option<Waker>,
}

struct Done(Arc<Mutex<Slot>>);

impl Future for Done {
    type Output = Result<(), io::Error>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = lock(&self.0);
        match slot.result.take() {
            Some(r) => Poll::Ready(r),
            None => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

fn finish(slot: &Mutex<Slot>, result: Result<(), io::Error>) {
    let mut slot = lock(slot);
    slot.result = Some(result);
    if let Some(w) = slot.waker.take() {
        w.wake();
    }
}

enum Op {
    Write(Vec<u8>),
    Remove(bool),
}

struct Queued {
    primary: String,
    secondary: String,
    key: String,
    op: Op,
    slot: Arc<Mutex<Slot>>,
}

/// Encodes the channel manager as it is now; `None` once the node is gone.
pub type ManagerEncoder = Box<dyn Fn() -> Option<Vec<u8>>>;
/// Whether the node (its channel manager) still exists.
pub type NodeAlive = Box<dyn Fn() -> bool>;

/// See the module doc. Reads, listings and writes outside the monitor namespaces go straight
/// to the inner store.
pub struct MonitorGate {
    inner: Arc<FencedStore>,
    queue: Mutex<VecDeque<Queued>>,
    flushing: AtomicBool,
    /// Set to cut a retry's wait short ([`MonitorGate::retry_now`]).
    kick: AtomicBool,
    manager: Mutex<Option<(ManagerEncoder, NodeAlive)>>,
    health: Arc<StorageHealth>,
}

impl MonitorGate {
    /// A gate over the node's fenced store.
    pub fn new(inner: Arc<FencedStore>, health: Arc<StorageHealth>) -> Arc<Self> {
        Arc::new(MonitorGate {
            inner,
            queue: Mutex::new(VecDeque::new()),
            flushing: AtomicBool::new(false),
            kick: AtomicBool::new(false),
            manager: Mutex::new(None),
            health,
        })
    }

    /// How to snapshot the channel manager, and whether the node still exists (a write for
    /// a node that is gone is not retried). Until set (while the node is built, when no
    /// channel can move) queued writes go out without a manager.
    pub fn set_manager(&self, encode: ManagerEncoder, alive: NodeAlive) {
        *lock(&self.manager) = Some((encode, alive));
    }

    fn node_gone(&self) -> bool {
        lock(&self.manager)
            .as_ref()
            .is_some_and(|(_, alive)| !alive())
    }

    /// Ends the wait of a failed write's retry now (the page is being hidden: try once more
    /// while we may).
    pub fn retry_now(&self) {
        self.kick.store(true, Ordering::Release);
    }

    /// Monitor writes and removals not yet in the store.
    pub fn pending(&self) -> usize {
        lock(&self.queue).len()
    }

    fn gated(primary: &str) -> bool {
        primary == CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE
            || primary == CHANNEL_MONITOR_UPDATE_PERSISTENCE_PRIMARY_NAMESPACE
    }

    fn enqueue(self: &Arc<Self>, p: &str, s: &str, k: &str, op: Op) -> Done {
        let slot = Arc::new(Mutex::new(Slot::default()));
        lock(&self.queue).push_back(Queued {
            primary: p.to_string(),
            secondary: s.to_string(),
            key: k.to_string(),
            op,
            slot: Arc::clone(&slot),
        });
        if !self.flushing.swap(true, Ordering::AcqRel) {
            let gate = Arc::clone(self);
            runtime::spawn_local(async move { gate.flush().await });
        }
        Done(slot)
    }

    /// Waits `d`, or less once [`MonitorGate::retry_now`] was called.
    async fn back_off(&self, d: Duration) {
        let start = runtime::now();
        while runtime::now().saturating_sub(start) < d {
            if self.kick.swap(false, Ordering::AcqRel) {
                return;
            }
            runtime::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `Err` when the write must be given up: the node stopped and the store is closed to
    /// it (the queued updates stay in flight in the last manager written, LDK replays them).
    async fn retry_until_written<F>(&self, what: &str, mut attempt: F) -> Result<(), io::Error>
    where
        F: FnMut() -> Option<AsyncResult<'static, (), io::Error>>,
    {
        let mut wait = RETRY_MIN;
        loop {
            let Some(write) = attempt() else {
                return Ok(());
            };
            match write.await {
                Ok(()) => {
                    if self.health.failure().is_some() {
                        self.health.set(None);
                    }
                    return Ok(());
                }
                Err(e) if self.inner.is_closed() || self.node_gone() => return Err(e),
                Err(e) => {
                    self.health
                        .set(Some(format!("{what} failed: {e}; retrying")));
                    self.back_off(wait).await;
                    wait = (wait * 2).min(RETRY_MAX);
                }
            }
        }
    }

    async fn flush(self: Arc<Self>) {
        loop {
            // Let the LDK call that queued this finish (and queue the rest of its writes). No
            // timer: a hidden tab would delay every channel update by its throttling.
            runtime::yield_now().await;
            let (covered, removals_only) = {
                let queue = lock(&self.queue);
                let removals_only = queue.iter().all(|q| matches!(q.op, Op::Remove(_)));
                (queue.len(), removals_only)
            };
            if covered == 0 {
                self.flushing.store(false, Ordering::Release);
                return;
            }
            // A snapshot taken now knows every update queued so far. Removals alone (LDK
            // dropping update records a full monitor write made redundant) cannot leave the
            // manager behind a monitor: they need none, which spares the hundred manager
            // writes that follow every hundredth update.
            let written = if removals_only {
                Ok(())
            } else {
                self.retry_until_written("writing the channel manager", || {
                    let bytes = lock(&self.manager)
                        .as_ref()
                        .and_then(|(encode, _)| encode())?;
                    Some(self.inner.write(
                        CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
                        CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
                        CHANNEL_MANAGER_PERSISTENCE_KEY,
                        bytes,
                    ))
                })
                .await
            };
            if written.is_err() {
                return self.give_up();
            }
            for _ in 0..covered {
                let (p, s, k, op, slot) = match lock(&self.queue).front() {
                    Some(q) => (
                        q.primary.clone(),
                        q.secondary.clone(),
                        q.key.clone(),
                        match &q.op {
                            Op::Write(b) => Op::Write(b.clone()),
                            Op::Remove(lazy) => Op::Remove(*lazy),
                        },
                        Arc::clone(&q.slot),
                    ),
                    None => break,
                };
                let what = format!("writing channel monitor data {p}/{s}/{k}");
                let result = self
                    .retry_until_written(&what, || {
                        Some(match &op {
                            Op::Write(bytes) => self.inner.write(&p, &s, &k, bytes.clone()),
                            Op::Remove(lazy) => self.inner.remove(&p, &s, &k, *lazy),
                        })
                    })
                    .await;
                match result {
                    Ok(()) => {
                        lock(&self.queue).pop_front();
                        finish(&slot, Ok(()));
                    }
                    Err(_) => return self.give_up(),
                }
            }
        }
    }

    /// The store is closed to this node: every queued write fails (LDK never acknowledges
    /// those updates; the next node replays them from the manager).
    fn give_up(&self) {
        let queued: Vec<Queued> = lock(&self.queue).drain(..).collect();
        for q in queued {
            let e = io::Error::new(io::ErrorKind::Other, "the store is closed to writes");
            finish(&q.slot, Err(e));
        }
        self.flushing.store(false, Ordering::Release);
    }
}

/// The gate is used as `Arc<MonitorGate>` (it spawns its flush with a clone of itself).
pub struct GatedStore(pub Arc<MonitorGate>);

impl KVStore for GatedStore {
    fn read(&self, p: &str, s: &str, k: &str) -> AsyncResult<'static, Vec<u8>, io::Error> {
        self.0.inner.read(p, s, k)
    }

    fn write(
        &self,
        p: &str,
        s: &str,
        k: &str,
        buf: Vec<u8>,
    ) -> AsyncResult<'static, (), io::Error> {
        if MonitorGate::gated(p) {
            Box::pin(self.0.enqueue(p, s, k, Op::Write(buf)))
        } else {
            self.0.inner.write(p, s, k, buf)
        }
    }

    fn remove(&self, p: &str, s: &str, k: &str, lazy: bool) -> AsyncResult<'static, (), io::Error> {
        if MonitorGate::gated(p) {
            Box::pin(self.0.enqueue(p, s, k, Op::Remove(lazy)))
        } else {
            self.0.inner.remove(p, s, k, lazy)
        }
    }

    fn list(&self, p: &str, s: &str) -> AsyncResult<'static, Vec<String>, io::Error> {
        self.0.inner.list(p, s)
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::io::{DynStore, MemoryStore};

    fn gate() -> (
        Arc<FencedStore>,
        Arc<MonitorGate>,
        Arc<StorageHealth>,
        GatedStore,
    ) {
        let fence = Arc::new(FencedStore::new(
            Arc::new(MemoryStore::new()) as Arc<DynStore>
        ));
        let health = Arc::new(StorageHealth::default());
        let gate = MonitorGate::new(Arc::clone(&fence), Arc::clone(&health));
        gate.set_manager(Box::new(|| Some(b"manager".to_vec())), Box::new(|| true));
        let store = GatedStore(Arc::clone(&gate));
        (fence, gate, health, store)
    }

    fn local<F: Future>(f: F) -> F::Output {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        tokio::task::LocalSet::new().block_on(&rt, f)
    }

    #[test]
    fn monitor_writes_reach_the_store_after_a_manager_written_later() {
        local(async {
            let (fence, gate, _, store) = gate();
            fence.start_recording();
            let a = store.write(
                CHANNEL_MONITOR_UPDATE_PERSISTENCE_PRIMARY_NAMESPACE,
                "m",
                "1",
                vec![1],
            );
            let b = store.write(
                CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
                "",
                "m",
                vec![2],
            );
            // Elsewhere: straight through.
            store.write("payments", "", "p", vec![3]).await.unwrap();
            assert_eq!(gate.pending(), 2);
            a.await.unwrap();
            b.await.unwrap();
            assert_eq!(gate.pending(), 0);
            assert_eq!(
                fence.take_recording(),
                vec![
                    "payments//p",
                    "//manager",
                    "monitor_updates/m/1",
                    "monitors//m"
                ]
            );
            assert_eq!(store.read("", "", "manager").await.unwrap(), b"manager");
        });
    }

    #[test]
    fn a_failed_monitor_write_is_retried_in_order_until_it_succeeds() {
        local(async {
            let (fence, _, health, store) = gate();
            fence.set_failing_namespaces(&[CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE]);
            let first = store.write(
                CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
                "",
                "m",
                vec![1],
            );
            let second = store.write(
                CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
                "",
                "m",
                vec![2],
            );
            let check = async {
                while health.failure().is_none() {
                    runtime::sleep(Duration::from_millis(10)).await;
                }
                assert!(health.failure().unwrap().contains("monitors//m"));
                let changes = health.changes();
                runtime::sleep(Duration::from_millis(600)).await;
                assert_eq!(health.changes(), changes, "still failing, reported once");
                fence.set_failing_namespaces(&[]);
            };
            let (a, b, ()) = tokio::join!(first, second, check);
            a.unwrap();
            b.unwrap();
            assert_eq!(health.failure(), None);
            // The later write stays the last one.
            assert_eq!(
                store
                    .read(CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE, "", "m")
                    .await
                    .unwrap(),
                vec![2]
            );
        });
    }

    #[test]
    fn queued_writes_fail_once_the_store_is_closed() {
        local(async {
            let (fence, gate, _, store) = gate();
            fence.set_failing_namespaces(&[CHANNEL_MONITOR_UPDATE_PERSISTENCE_PRIMARY_NAMESPACE]);
            let w = store.write(
                CHANNEL_MONITOR_UPDATE_PERSISTENCE_PRIMARY_NAMESPACE,
                "m",
                "1",
                vec![1],
            );
            let close = async {
                runtime::sleep(Duration::from_millis(100)).await;
                fence.set_closed(true);
            };
            let (r, ()) = tokio::join!(w, close);
            assert!(r.is_err());
            assert_eq!(gate.pending(), 0);
        });
    }
}
