//! [`FencedStore`]: a store that can be closed to writes. The node closes its store when
//! `stop` has written everything: after that another instance (a new tab, once the Web Lock
//! is free) may own the storage, and a late write from this one (a sync still in flight, a
//! call racing `stop`) would overwrite newer state.
//!
//! Tests use the same fence to cut a node off its storage mid-flow, as a killed tab is
//! ([`FencedStore::close_after`]), and to count the writes a flow makes
//! ([`FencedStore::writes`]).

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use lightning::io;
use lightning::util::async_poll::AsyncResult;

use super::{DynStore, KVStore, MemoryStore};

/// Wraps a store; once [closed](FencedStore::set_closed), writes and removals fail with an
/// I/O error (a storage error to the caller) and reads still work.
pub struct FencedStore {
    inner: Arc<DynStore>,
    closed: AtomicBool,
    /// Writes and removals let through so far.
    writes: AtomicU64,
    /// The fence closes by itself once `writes` reaches this (`u64::MAX`: never).
    close_at: AtomicU64,
    /// Test seams: primary namespaces whose writes fail while the rest pass, and the log
    /// of the writes let through (`None`: not recording).
    failing: Mutex<Vec<String>>,
    log: Mutex<Option<Vec<String>>>,
}

impl FencedStore {
    /// Open for writes until closed.
    pub fn new(inner: Arc<DynStore>) -> Self {
        FencedStore {
            inner,
            closed: AtomicBool::new(false),
            writes: AtomicU64::new(0),
            close_at: AtomicU64::new(u64::MAX),
            failing: Mutex::new(Vec::new()),
            log: Mutex::new(None),
        }
    }

    /// Refuses every write and removal from now on (`true`), or accepts them again (which
    /// also cancels a [`FencedStore::close_after`]).
    pub fn set_closed(&self, closed: bool) {
        if !closed {
            self.close_at.store(u64::MAX, Ordering::Release);
        }
        self.closed.store(closed, Ordering::Release);
    }

    /// Lets `writes` more writes and removals through, then closes (a test seam: the tab
    /// killed right after its `writes`-th write).
    pub fn close_after(&self, writes: u64) {
        let at = self.writes.load(Ordering::Acquire).saturating_add(writes);
        self.close_at.store(at, Ordering::Release);
    }

    /// How many writes and removals were let through so far.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Acquire)
    }

    /// Whether writes are refused.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Makes writes and removals under these primary namespaces fail (as a full quota would)
    /// while the rest pass; an empty list ends it. A test seam.
    pub fn set_failing_namespaces(&self, primary_namespaces: &[&str]) {
        *self.failing.lock().unwrap_or_else(PoisonError::into_inner) =
            primary_namespaces.iter().map(|s| s.to_string()).collect();
    }

    /// Starts logging the writes and removals let through, as `primary/secondary/key`.
    pub fn start_recording(&self) {
        *self.log.lock().unwrap_or_else(PoisonError::into_inner) = Some(Vec::new());
    }

    /// The log since [`FencedStore::start_recording`]; recording stops.
    pub fn take_recording(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .unwrap_or_default()
    }

    /// `Some(error)` when the fence refuses this write or removal; otherwise counts it.
    fn refused<T: 'static>(
        &self,
        p: &str,
        s: &str,
        k: &str,
    ) -> Option<AsyncResult<'static, T, io::Error>> {
        let fail = |why: &str| {
            let e = io::Error::new(io::ErrorKind::Other, why.to_string());
            Some(Box::pin(core::future::ready(Err(e))) as AsyncResult<'static, T, io::Error>)
        };
        if !self.closed.load(Ordering::Acquire)
            && self.writes.load(Ordering::Acquire) >= self.close_at.load(Ordering::Acquire)
        {
            self.closed.store(true, Ordering::Release);
        }
        // After a panic in the browser the node's memory cannot be trusted: nothing of it
        // may reach the disk (crate::runtime::poisoned).
        if self.closed.load(Ordering::Acquire) || crate::runtime::poisoned() {
            return fail("the store is closed to writes: the node stopped");
        }
        if self
            .failing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .any(|f| f == p)
        {
            return fail("the store refuses writes here (quota exceeded)");
        }
        self.writes.fetch_add(1, Ordering::AcqRel);
        if let Some(log) = &mut *self.log.lock().unwrap_or_else(PoisonError::into_inner) {
            log.push(format!("{p}/{s}/{k}"));
        }
        None
    }
}

/// In memory: the test stand-in for a full disk or an exhausted quota
/// ([`crate::io::test_utils::FullStore`]).
impl Default for FencedStore {
    fn default() -> Self {
        FencedStore::new(Arc::new(MemoryStore::new()))
    }
}

impl KVStore for FencedStore {
    fn read(&self, p: &str, s: &str, k: &str) -> AsyncResult<'static, Vec<u8>, io::Error> {
        self.inner.read(p, s, k)
    }

    fn write(
        &self,
        p: &str,
        s: &str,
        k: &str,
        buf: Vec<u8>,
    ) -> AsyncResult<'static, (), io::Error> {
        self.refused(p, s, k)
            .unwrap_or_else(|| self.inner.write(p, s, k, buf))
    }

    fn remove(&self, p: &str, s: &str, k: &str, lazy: bool) -> AsyncResult<'static, (), io::Error> {
        self.refused(p, s, k)
            .unwrap_or_else(|| self.inner.remove(p, s, k, lazy))
    }

    fn list(&self, p: &str, s: &str) -> AsyncResult<'static, Vec<String>, io::Error> {
        self.inner.list(p, s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::test_utils::{block_on, do_test_store};

    #[test]
    fn passes_the_store_suite_then_refuses_writes_once_closed() {
        let store = FencedStore::default();
        block_on(do_test_store(&store)).unwrap();
        block_on(store.write("ns", "", "k", vec![1])).unwrap();
        store.set_closed(true);
        assert!(block_on(store.write("ns", "", "k", vec![2])).is_err());
        assert!(block_on(store.remove("ns", "", "k", false)).is_err());
        assert_eq!(block_on(store.read("ns", "", "k")).unwrap(), vec![1]);
        assert_eq!(
            block_on(store.list("ns", "")).unwrap(),
            vec!["k".to_string()]
        );
    }

    #[test]
    fn closes_by_itself_after_n_writes() {
        let store = FencedStore::default();
        block_on(store.write("ns", "", "a", vec![1])).unwrap();
        assert_eq!(store.writes(), 1);
        store.close_after(2);
        block_on(store.write("ns", "", "b", vec![1])).unwrap();
        block_on(store.remove("ns", "", "a", false)).unwrap();
        assert_eq!(store.writes(), 3);
        assert!(!store.is_closed());
        assert!(block_on(store.write("ns", "", "c", vec![1])).is_err());
        assert!(store.is_closed());
        assert!(block_on(store.remove("ns", "", "b", false)).is_err());
        assert_eq!(store.writes(), 3, "refused writes are not counted");
        assert_eq!(
            block_on(store.list("ns", "")).unwrap(),
            vec!["b".to_string()]
        );
        store.set_closed(false);
        store.start_recording();
        block_on(store.write("ns", "", "c", vec![1])).unwrap();
        assert_eq!(store.writes(), 4);

        store.set_failing_namespaces(&["ns"]);
        assert!(block_on(store.write("ns", "", "d", vec![1])).is_err());
        block_on(store.write("other", "", "d", vec![1])).unwrap();
        store.set_failing_namespaces(&[]);
        block_on(store.write("ns", "", "d", vec![1])).unwrap();
        assert_eq!(store.take_recording(), vec!["ns//c", "other//d", "ns//d"]);
    }
}
