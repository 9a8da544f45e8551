//! [`FencedStore`]: a store that can be closed to writes. The node closes its store when
//! `stop` has written everything: after that another instance (a new tab, once the Web Lock
//! is free) may own the storage, and a late write from this one (a sync still in flight, a
//! call racing `stop`) would overwrite newer state.

use core::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use lightning::io;
use lightning::util::async_poll::AsyncResult;

use super::{DynStore, KVStore, MemoryStore};

/// Wraps a store; once [closed](FencedStore::set_closed), writes and removals fail with an
/// I/O error (a storage error to the caller) and reads still work.
pub struct FencedStore {
    inner: Arc<DynStore>,
    closed: AtomicBool,
}

impl FencedStore {
    /// Open for writes until closed.
    pub fn new(inner: Arc<DynStore>) -> Self {
        FencedStore {
            inner,
            closed: AtomicBool::new(false),
        }
    }

    /// Refuses every write and removal from now on (`true`), or accepts them again.
    pub fn set_closed(&self, closed: bool) {
        self.closed.store(closed, Ordering::Release);
    }

    fn refused<T: 'static>(&self) -> Option<AsyncResult<'static, T, io::Error>> {
        // After a panic in the browser the node's memory cannot be trusted: nothing of it
        // may reach the disk (crate::runtime::poisoned).
        let closed = self.closed.load(Ordering::Acquire) || crate::runtime::poisoned();
        closed.then(|| {
            let e = io::Error::new(
                io::ErrorKind::Other,
                "the store is closed to writes: the node stopped",
            );
            Box::pin(core::future::ready(Err(e))) as AsyncResult<'static, T, io::Error>
        })
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
        self.refused()
            .unwrap_or_else(|| self.inner.write(p, s, k, buf))
    }

    fn remove(&self, p: &str, s: &str, k: &str, lazy: bool) -> AsyncResult<'static, (), io::Error> {
        self.refused()
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
}
