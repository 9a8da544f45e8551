//! The one test suite every [`KVStore`] backend must pass, natively (`#[test]` with
//! [`block_on`]) and in the browser (`wasm-bindgen-test`, awaiting [`do_test_store`]).
//!
//! Compiled always so a wasm test can reach it; it is generic, so it adds no code to a build
//! that does not call it. It returns `Err` with a description instead of panicking.

use lightning::io::ErrorKind;
use lightning::util::persist::{KVStore, KVSTORE_NAMESPACE_KEY_MAX_LEN};

/// Primary namespaces the suite writes to. The suite empties them first, so it can run again
/// on a persistent store; it leaves them empty.
pub const TEST_PRIMARY_NAMESPACES: [&str; 3] =
    ["wasmln_test", "wasmln_test_other", "wasmln_test_many"];
/// The secondary namespace the suite uses under `wasmln_test`.
pub const TEST_SECONDARY_NAMESPACE: &str = "sub";
/// The key the suite writes (and removes again) at the root, `("", "")`.
pub const TEST_ROOT_KEY: &str = "wasmln_test_root";

/// A store whose writes can be made to fail, as a full disk or an exhausted IndexedDB
/// quota fails them: for tests of what a failed write leaves behind. In memory; reads and
/// listings always work.
pub type FullStore = super::FencedStore;

impl FullStore {
    /// Makes every write and removal from now on fail (`true`) or succeed again.
    pub fn set_full(&self, full: bool) {
        self.set_closed(full);
    }
}

/// Number of keys in the "many keys" step.
const MANY: usize = 300;

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

async fn read<K: KVStore + ?Sized>(
    store: &K,
    p: &str,
    s: &str,
    k: &str,
) -> Result<Vec<u8>, String> {
    store
        .read(p, s, k)
        .await
        .map_err(|e| format!("read {p}/{s}/{k}: {e}"))
}

async fn write<K: KVStore + ?Sized>(
    store: &K,
    p: &str,
    s: &str,
    k: &str,
    value: &[u8],
) -> Result<(), String> {
    store
        .write(p, s, k, value.to_vec())
        .await
        .map_err(|e| format!("write {p}/{s}/{k}: {e}"))
}

async fn remove<K: KVStore + ?Sized>(
    store: &K,
    p: &str,
    s: &str,
    k: &str,
    lazy: bool,
) -> Result<(), String> {
    store
        .remove(p, s, k, lazy)
        .await
        .map_err(|e| format!("remove {p}/{s}/{k} (lazy: {lazy}): {e}"))
}

async fn list<K: KVStore + ?Sized>(store: &K, p: &str, s: &str) -> Result<Vec<String>, String> {
    let mut keys = store
        .list(p, s)
        .await
        .map_err(|e| format!("list {p}/{s}: {e}"))?;
    keys.sort();
    Ok(keys)
}

async fn expect_missing<K: KVStore + ?Sized>(
    store: &K,
    p: &str,
    s: &str,
    k: &str,
) -> Result<(), String> {
    match store.read(p, s, k).await {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!(
            "read {p}/{s}/{k}: want NotFound, got {:?}: {e}",
            e.kind()
        )),
        Ok(v) => Err(format!(
            "read {p}/{s}/{k}: want NotFound, got {} bytes",
            v.len()
        )),
    }
}

fn sorted(keys: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    v.sort();
    v
}

/// Empties the namespaces the suite uses.
async fn clean<K: KVStore + ?Sized>(store: &K) -> Result<(), String> {
    let (main, sub) = (TEST_PRIMARY_NAMESPACES[0], TEST_SECONDARY_NAMESPACE);
    let mut namespaces: Vec<(&str, &str)> =
        TEST_PRIMARY_NAMESPACES.iter().map(|p| (*p, "")).collect();
    namespaces.push((main, sub));
    for (p, s) in namespaces {
        for k in list(store, p, s).await? {
            remove(store, p, s, &k, false).await?;
        }
    }
    remove(store, "", "", TEST_ROOT_KEY, false).await
}

/// Runs every check a [`KVStore`] backend must pass, against `store` (fresh or used: only the
/// [`TEST_PRIMARY_NAMESPACES`] and [`TEST_ROOT_KEY`] are touched, and left empty).
///
/// Round trip, overwrite, `NotFound` for a missing key, `list` per namespace without leaks
/// between namespaces, `remove` (also of a missing key, also `lazy`), namespace and key
/// validation, binary values (empty, every byte, 1 MB), many keys, and the write-order rule:
/// several writes (and removes) to one key issued before any is awaited, then awaited in
/// reverse order, leave the last call's result.
pub async fn do_test_store<K: KVStore + ?Sized>(store: &K) -> Result<(), String> {
    let [main, other, many] = TEST_PRIMARY_NAMESPACES;
    let sub = TEST_SECONDARY_NAMESPACE;
    clean(store).await?;

    // -- invalid namespaces and keys are refused, and nothing is written --
    let long = "k".repeat(KVSTORE_NAMESPACE_KEY_MAX_LEN + 1);
    let bad: [(&str, &str, &str); 10] = [
        (main, "", ""),
        ("", sub, "k"),
        (main, "", "a/b"),
        (main, "", ".."),
        (main, "", "a.b"),
        (main, "", "\u{e9}"),
        (main, "", "a b"),
        (main, "", &long),
        ("wasmln/test", "", "k"),
        (main, "s\\t", "k"),
    ];
    for (p, s, k) in bad {
        for (op, res) in [
            ("write", store.write(p, s, k, vec![1]).await),
            ("remove", store.remove(p, s, k, false).await),
            ("read", store.read(p, s, k).await.map(|_| ())),
        ] {
            match res {
                Err(e) if e.kind() == ErrorKind::InvalidInput => {}
                other => {
                    return Err(format!(
                        "{op} {p:?}/{s:?}/{k:?}: want InvalidInput, got {other:?}"
                    ))
                }
            }
        }
    }
    for (p, s) in [("", sub), ("wasmln/test", ""), (main, "..")] {
        match store.list(p, s).await {
            Err(e) if e.kind() == ErrorKind::InvalidInput => {}
            other => {
                return Err(format!(
                    "list {p:?}/{s:?}: want InvalidInput, got {other:?}"
                ))
            }
        }
    }
    ensure!(
        list(store, main, "").await?.is_empty(),
        "a refused write left a key"
    );

    // -- missing keys and unknown namespaces --
    expect_missing(store, main, "", "missing").await?;
    expect_missing(store, main, sub, "missing").await?;
    ensure!(
        list(store, main, "").await?.is_empty(),
        "unknown namespace lists keys"
    );
    ensure!(
        list(store, main, sub).await?.is_empty(),
        "unknown namespace lists keys"
    );

    // -- round trip, overwrite, one key name in several namespaces --
    write(store, main, "", "k1", b"first").await?;
    ensure!(read(store, main, "", "k1").await? == b"first", "round trip");
    write(store, main, "", "k1", b"second, longer value").await?;
    ensure!(
        read(store, main, "", "k1").await? == b"second, longer value",
        "overwrite with longer"
    );
    write(store, main, "", "k1", b"3").await?;
    ensure!(
        read(store, main, "", "k1").await? == b"3",
        "overwrite with shorter"
    );
    write(store, main, sub, "k1", b"sub").await?;
    write(store, other, "", "k1", b"other").await?;
    write(store, "", "", TEST_ROOT_KEY, b"root").await?;
    ensure!(
        read(store, main, "", "k1").await? == b"3",
        "a write to another namespace leaked"
    );
    ensure!(
        read(store, main, sub, "k1").await? == b"sub",
        "secondary namespace"
    );
    ensure!(
        read(store, other, "", "k1").await? == b"other",
        "other primary namespace"
    );
    ensure!(
        read(store, "", "", TEST_ROOT_KEY).await? == b"root",
        "root namespace"
    );
    let longest = "K".repeat(KVSTORE_NAMESPACE_KEY_MAX_LEN);
    let alphabet = lightning::util::persist::KVSTORE_NAMESPACE_KEY_ALPHABET;
    write(store, main, "", &longest, b"longest").await?;
    write(store, main, "", alphabet, b"alphabet").await?;
    ensure!(
        read(store, main, "", &longest).await? == b"longest",
        "longest key"
    );
    ensure!(
        read(store, main, "", alphabet).await? == b"alphabet",
        "key of every allowed char"
    );

    // -- list: one namespace's keys only --
    write(store, main, "", "k2", b"2").await?;
    write(store, main, sub, "s2", b"s2").await?;
    let want_main = sorted(&["k1", "k2", &longest, alphabet]);
    let got = list(store, main, "").await?;
    ensure!(
        got == want_main,
        "list {main}/: want {want_main:?}, got {got:?}"
    );
    let got = list(store, main, sub).await?;
    ensure!(
        got == sorted(&["k1", "s2"]),
        "list {main}/{sub}: got {got:?}"
    );
    let got = list(store, other, "").await?;
    ensure!(got == sorted(&["k1"]), "list {other}/: got {got:?}");
    let root = list(store, "", "").await?;
    ensure!(
        root.iter().any(|k| k == TEST_ROOT_KEY),
        "list of the root misses {TEST_ROOT_KEY}"
    );
    for leak in [main, other, sub, "k1", "s2"] {
        ensure!(
            !root.iter().any(|k| k == leak),
            "list of the root shows {leak:?}"
        );
    }

    // -- remove --
    remove(store, main, "", "k2", false).await?;
    expect_missing(store, main, "", "k2").await?;
    ensure!(
        !list(store, main, "").await?.contains(&"k2".to_string()),
        "removed key still listed"
    );
    ensure!(
        read(store, main, sub, "k1").await? == b"sub",
        "remove hit another namespace"
    );
    remove(store, main, "", "k2", false).await?;
    remove(store, main, "", "never_written", false).await?;
    remove(store, "wasmln_test_none", "none", "never_written", true).await?;
    remove(store, main, sub, "s2", true).await?;
    // A write after a lazy remove must win over the pending removal.
    write(store, main, sub, "s2", b"back").await?;
    ensure!(
        read(store, main, sub, "s2").await? == b"back",
        "write after lazy remove lost"
    );

    // -- binary values --
    let every_byte: Vec<u8> = (0..=255u8).collect();
    let big: Vec<u8> = (0..1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    for (name, value) in [
        ("empty", &[][..]),
        ("every_byte", &every_byte[..]),
        ("one_mb", &big[..]),
    ] {
        write(store, main, "", name, value).await?;
        let got = read(store, main, "", name).await?;
        ensure!(
            got == value,
            "{name}: read {} bytes back, wrote {}",
            got.len(),
            value.len()
        );
    }
    write(store, main, "", "one_mb", b"small again").await?;
    ensure!(
        read(store, main, "", "one_mb").await? == b"small again",
        "1 MB overwritten by small"
    );

    // -- many keys --
    for i in 0..MANY {
        write(store, many, "", &format!("key_{i:04}"), &i.to_be_bytes()).await?;
    }
    let keys = list(store, many, "").await?;
    let want: Vec<String> = (0..MANY).map(|i| format!("key_{i:04}")).collect();
    ensure!(keys == want, "many keys: listed {} of {MANY}", keys.len());
    for i in [0, 1, MANY / 2, MANY - 1] {
        let got = read(store, many, "", &format!("key_{i:04}")).await?;
        ensure!(
            got == i.to_be_bytes(),
            "many keys: key_{i:04} holds {got:?}"
        );
    }
    for k in &keys {
        remove(store, many, "", k, true).await?;
    }
    let left = list(store, many, "").await?;
    ensure!(
        left.is_empty(),
        "many keys: {} left after removing all",
        left.len()
    );

    // -- write order: issued first, awaited in reverse; the last call wins --
    let futures: Vec<_> = (0..5u8)
        .map(|i| store.write(main, "", "ordered", vec![i; 1 + usize::from(i)]))
        .collect();
    for (i, f) in futures.into_iter().enumerate().rev() {
        f.await.map_err(|e| format!("ordered write {i}: {e}"))?;
    }
    let got = read(store, main, "", "ordered").await?;
    ensure!(
        got == [4u8; 5],
        "write order: last call must win, read {got:?}"
    );

    // Write, remove, write: the second write wins.
    let futures = [
        store.write(main, "", "ordered", vec![10]),
        store.remove(main, "", "ordered", false),
        store.write(main, "", "ordered", vec![11]),
    ];
    for (i, f) in futures.into_iter().enumerate().rev() {
        f.await.map_err(|e| format!("ordered op {i}: {e}"))?;
    }
    let got = read(store, main, "", "ordered").await?;
    ensure!(got == [11], "write, remove, write: read {got:?}");

    // Write, write, remove: gone.
    let futures = [
        store.write(main, "", "ordered", vec![20]),
        store.write(main, "", "ordered", vec![21]),
        store.remove(main, "", "ordered", true),
    ];
    for (i, f) in futures.into_iter().enumerate().rev() {
        f.await.map_err(|e| format!("ordered op {i}: {e}"))?;
    }
    expect_missing(store, main, "", "ordered").await?;

    // -- clean up, and check it --
    clean(store).await?;
    for (p, s) in [(main, ""), (main, sub), (other, ""), (many, "")] {
        ensure!(
            list(store, p, s).await?.is_empty(),
            "{p}/{s} not empty after clean-up"
        );
    }
    expect_missing(store, "", "", TEST_ROOT_KEY).await?;
    Ok(())
}

/// Runs a future to completion on this thread, for native tests of stores whose futures
/// complete without waiting (ours are complete when returned). Polls with a no-op waker.
#[cfg(test)]
pub fn block_on<F: core::future::Future>(fut: F) -> F::Output {
    use core::task::{Context, Poll, Waker};
    let mut fut = core::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1_000_000 {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::yield_now();
    }
    panic!("block_on: the future did not complete");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::MemoryStore;
    use lightning::io;
    use lightning::util::async_poll::AsyncResult;
    use lightning::util::persist::KVStoreSync;
    use std::sync::Arc;

    /// A broken store: it writes when the future is polled, not when `write` is called.
    struct WritesWhenPolled(Arc<MemoryStore>);

    impl KVStore for WritesWhenPolled {
        fn read(&self, p: &str, s: &str, k: &str) -> AsyncResult<'static, Vec<u8>, io::Error> {
            Box::pin(core::future::ready(KVStoreSync::read(&*self.0, p, s, k)))
        }
        fn write(
            &self,
            p: &str,
            s: &str,
            k: &str,
            buf: Vec<u8>,
        ) -> AsyncResult<'static, (), io::Error> {
            let (store, p, s, k) = (self.0.clone(), p.to_owned(), s.to_owned(), k.to_owned());
            Box::pin(async move { KVStoreSync::write(&*store, &p, &s, &k, buf) })
        }
        fn remove(
            &self,
            p: &str,
            s: &str,
            k: &str,
            lazy: bool,
        ) -> AsyncResult<'static, (), io::Error> {
            Box::pin(core::future::ready(KVStoreSync::remove(
                &*self.0, p, s, k, lazy,
            )))
        }
        fn list(&self, p: &str, s: &str) -> AsyncResult<'static, Vec<String>, io::Error> {
            Box::pin(core::future::ready(KVStoreSync::list(&*self.0, p, s)))
        }
    }

    #[test]
    fn the_suite_catches_a_store_that_reorders_writes() {
        let store = WritesWhenPolled(Arc::new(MemoryStore::new()));
        let err = block_on(do_test_store(&store)).unwrap_err();
        assert!(err.contains("write order"), "{err}");
    }
}
