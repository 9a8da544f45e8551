//! [`MemoryStore`]: everything in a map, gone with the process. For tests and throwaway
//! nodes; builds on every target.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use lightning::io;
use lightning::util::persist::{KVStoreSync, MigratableKVStore};

use super::check_namespace_key;

/// `(primary, secondary)` → key → value.
type Entries = BTreeMap<(String, String), BTreeMap<String, Vec<u8>>>;

/// A key-value store in memory. Implements LDK's [`KVStore`] (async; every future it returns
/// is already complete, so writes take effect in call order) and [`KVStoreSync`].
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: Mutex<Entries>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The lock is never held across an `.await` or a call out of this module, so it is never
    /// re-entered (which would panic on wasm32). A panic while held (allocation failure)
    /// leaves the map consistent, so poisoning is ignored.
    fn entries(&self) -> MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn not_found(primary_namespace: &str, secondary_namespace: &str, key: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("no value at {primary_namespace}/{secondary_namespace}/{key}"),
    )
}

impl KVStoreSync for MemoryStore {
    fn read(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
    ) -> Result<Vec<u8>, io::Error> {
        check_namespace_key(primary_namespace, secondary_namespace, Some(key))?;
        self.entries()
            .get(&(primary_namespace.to_owned(), secondary_namespace.to_owned()))
            .and_then(|keys| keys.get(key))
            .cloned()
            .ok_or_else(|| not_found(primary_namespace, secondary_namespace, key))
    }

    fn write(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
        buf: Vec<u8>,
    ) -> Result<(), io::Error> {
        check_namespace_key(primary_namespace, secondary_namespace, Some(key))?;
        self.entries()
            .entry((primary_namespace.to_owned(), secondary_namespace.to_owned()))
            .or_default()
            .insert(key.to_owned(), buf);
        Ok(())
    }

    /// Removes at once, whether `lazy` or not.
    fn remove(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
        _lazy: bool,
    ) -> Result<(), io::Error> {
        check_namespace_key(primary_namespace, secondary_namespace, Some(key))?;
        let namespace = (primary_namespace.to_owned(), secondary_namespace.to_owned());
        let mut entries = self.entries();
        if let Some(keys) = entries.get_mut(&namespace) {
            keys.remove(key);
            if keys.is_empty() {
                entries.remove(&namespace);
            }
        }
        Ok(())
    }

    fn list(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
    ) -> Result<Vec<String>, io::Error> {
        check_namespace_key(primary_namespace, secondary_namespace, None)?;
        Ok(self
            .entries()
            .get(&(primary_namespace.to_owned(), secondary_namespace.to_owned()))
            .map(|keys| keys.keys().cloned().collect())
            .unwrap_or_default())
    }
}

impl MigratableKVStore for MemoryStore {
    fn list_all_keys(&self) -> Result<Vec<(String, String, String)>, io::Error> {
        Ok(self
            .entries()
            .iter()
            .flat_map(|((primary, secondary), keys)| {
                keys.keys()
                    .map(move |key| (primary.clone(), secondary.clone(), key.clone()))
            })
            .collect())
    }
}

super::impl_kvstore_via_sync!(MemoryStore);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::test_utils::{block_on, do_test_store};
    use lightning::util::persist::{KVStore, KVStoreSyncWrapper};

    #[test]
    fn passes_the_store_suite() {
        let store = MemoryStore::new();
        block_on(do_test_store(&store)).unwrap();
        // Again on the same store: the suite cleans up after itself and tolerates leftovers.
        block_on(do_test_store(&store)).unwrap();
        assert!(store.list_all_keys().unwrap().is_empty());
    }

    #[test]
    fn sync_interface_passes_the_store_suite() {
        let store = MemoryStore::new();
        block_on(do_test_store(&KVStoreSyncWrapper(&store))).unwrap();
    }

    #[test]
    fn futures_are_complete_when_returned() {
        use core::task::{Context, Poll, Waker};
        let store = MemoryStore::new();
        let mut cx = Context::from_waker(Waker::noop());
        let mut w = KVStore::write(&store, "a", "", "k", vec![1]);
        assert!(matches!(w.as_mut().poll(&mut cx), Poll::Ready(Ok(()))));
        let mut r = KVStore::read(&store, "a", "", "k");
        assert!(matches!(r.as_mut().poll(&mut cx), Poll::Ready(Ok(ref v)) if v == &[1]));
    }

    #[test]
    fn lists_all_keys_for_migration() {
        let store = MemoryStore::new();
        KVStoreSync::write(&store, "", "", "root", vec![]).unwrap();
        KVStoreSync::write(&store, "p", "", "k", vec![]).unwrap();
        KVStoreSync::write(&store, "p", "s", "k", vec![]).unwrap();
        let mut all = store.list_all_keys().unwrap();
        all.sort();
        let want = [("", "", "root"), ("p", "", "k"), ("p", "s", "k")]
            .map(|(p, s, k)| (p.to_string(), s.to_string(), k.to_string()));
        assert_eq!(all, want);
    }
}
