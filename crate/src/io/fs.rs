//! [`FilesystemStore`]: one file per key under a data directory, native only.
//!
//! Layout: `DIR/KEY` for the empty namespace, `DIR/PRIMARY/KEY`,
//! `DIR/PRIMARY/SECONDARY/KEY` (namespaces and keys are from `[A-Za-z0-9_-]`, so they are safe
//! path components). A write goes to a temporary file in the same directory, which is synced,
//! renamed over the target, and then the directory is synced: after a crash a key holds
//! either its old or its new value, never a torn one. Temporary files have a `.` in their name,
//! which no key can have, so they never show up as keys; leftovers of a crash are deleted
//! when the store is opened.
//!
//! One process and one [`FilesystemStore`] per directory. The calls block on disk I/O; on a
//! native async runtime that is acceptable for tests and small nodes.

#[cfg(unix)]
use std::fs::File;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use lightning::io;
use lightning::util::persist::{KVStoreSync, MigratableKVStore};

use super::{check_namespace_key, is_valid_kvstore_str};
use crate::Error;

/// Suffix of temporary files.
const TMP_SUFFIX: &str = ".tmp";

/// A key-value store in a directory. Implements LDK's [`KVStore`] (async; each call does its
/// I/O before returning an already-complete future, so writes take effect in call order) and
/// [`KVStoreSync`].
#[derive(Debug)]
pub struct FilesystemStore {
    data_dir: PathBuf,
    tmp_counter: AtomicU64,
}

impl FilesystemStore {
    /// Opens (creating it if needed) a store in `data_dir`, and deletes temporary files a
    /// crash may have left. Fails with [`Error::StorageUnavailable`].
    pub fn new(data_dir: impl Into<PathBuf>) -> Result<Self, Error> {
        let data_dir = data_dir.into();
        let fail = |e: std::io::Error| {
            Error::StorageUnavailable(format!("cannot open {}: {e}", data_dir.display()))
        };
        fs::create_dir_all(&data_dir).map_err(fail)?;
        remove_temp_files(&data_dir, 2).map_err(fail)?;
        Ok(FilesystemStore {
            data_dir,
            tmp_counter: AtomicU64::new(0),
        })
    }

    /// The directory the store lives in.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    fn dir(&self, primary_namespace: &str, secondary_namespace: &str) -> PathBuf {
        let mut dir = self.data_dir.clone();
        if !primary_namespace.is_empty() {
            dir.push(primary_namespace);
            if !secondary_namespace.is_empty() {
                dir.push(secondary_namespace);
            }
        }
        dir
    }

    /// Creates a namespace's directory, syncing the parents of what was created so the new
    /// entries survive a crash.
    fn create_dir(&self, dir: &Path) -> std::io::Result<()> {
        if dir.is_dir() {
            return Ok(());
        }
        fs::create_dir_all(dir)?;
        let mut at = dir;
        while at != self.data_dir {
            let Some(parent) = at.parent() else { break };
            sync_dir(parent)?;
            at = parent;
        }
        Ok(())
    }

    fn write_file(&self, dir: &Path, key: &str, buf: &[u8]) -> std::io::Result<()> {
        self.create_dir(dir)?;
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!("{key}.{}-{n}{TMP_SUFFIX}", std::process::id()));
        let result = (|| {
            let mut file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            file.write_all(buf)?;
            file.sync_all()?;
            drop(file);
            fs::rename(&tmp, dir.join(key))?;
            sync_dir(dir)
        })();
        if result.is_err() {
            // Gone already if the rename happened.
            let _ = fs::remove_file(&tmp);
        }
        result
    }
}

/// Syncs a directory's entries (creations, renames, removals) to disk.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    // Elsewhere a directory cannot be opened for syncing; the rename is durable enough.
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Deletes our temporary files in `dir` and, `depth` levels down, its subdirectories.
fn remove_temp_files(dir: &Path, depth: u32) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let file_type = entry.file_type()?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if file_type.is_dir() {
            if depth > 0 && is_valid_kvstore_str(&name) {
                remove_temp_files(&entry.path(), depth - 1)?;
            }
        } else if file_type.is_file() && name.contains('.') && name.ends_with(TMP_SUFFIX) {
            fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// The keys (regular files with a key's name) and namespaces (directories) in `dir`.
fn entries(dir: &Path) -> std::io::Result<(Vec<String>, Vec<String>)> {
    let (mut keys, mut namespaces) = (Vec::new(), Vec::new());
    let read_dir = match fs::read_dir(dir) {
        Ok(read_dir) => read_dir,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((keys, namespaces)),
        Err(e) => return Err(e),
    };
    for entry in read_dir {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.is_empty() || !is_valid_kvstore_str(&name) {
            continue;
        }
        // Follows symlinks, so a linked file or directory counts as what it points to.
        let path = entry.path();
        if path.is_file() {
            keys.push(name);
        } else if path.is_dir() {
            namespaces.push(name);
        }
    }
    Ok((keys, namespaces))
}

impl KVStoreSync for FilesystemStore {
    fn read(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
    ) -> Result<Vec<u8>, io::Error> {
        check_namespace_key(primary_namespace, secondary_namespace, Some(key))?;
        let path = self.dir(primary_namespace, secondary_namespace).join(key);
        Ok(fs::read(path)?)
    }

    fn write(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
        buf: Vec<u8>,
    ) -> Result<(), io::Error> {
        check_namespace_key(primary_namespace, secondary_namespace, Some(key))?;
        let dir = self.dir(primary_namespace, secondary_namespace);
        Ok(self.write_file(&dir, key, &buf)?)
    }

    /// Deletes the file at once. Not `lazy`: also syncs the directory before returning, so the
    /// removal survives a crash; `lazy`: skips that sync.
    fn remove(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
        lazy: bool,
    ) -> Result<(), io::Error> {
        check_namespace_key(primary_namespace, secondary_namespace, Some(key))?;
        let dir = self.dir(primary_namespace, secondary_namespace);
        match fs::remove_file(dir.join(key)) {
            Ok(()) if lazy => Ok(()),
            Ok(()) => Ok(sync_dir(&dir)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn list(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
    ) -> Result<Vec<String>, io::Error> {
        check_namespace_key(primary_namespace, secondary_namespace, None)?;
        let (keys, _) = entries(&self.dir(primary_namespace, secondary_namespace))?;
        Ok(keys)
    }
}

impl MigratableKVStore for FilesystemStore {
    fn list_all_keys(&self) -> Result<Vec<(String, String, String)>, io::Error> {
        let mut all = Vec::new();
        let (root_keys, primaries) = entries(&self.data_dir)?;
        all.extend(
            root_keys
                .into_iter()
                .map(|k| (String::new(), String::new(), k)),
        );
        for primary in primaries {
            let (keys, secondaries) = entries(&self.dir(&primary, ""))?;
            all.extend(
                keys.into_iter()
                    .map(|k| (primary.clone(), String::new(), k)),
            );
            for secondary in secondaries {
                let (keys, _) = entries(&self.dir(&primary, &secondary))?;
                all.extend(
                    keys.into_iter()
                        .map(|k| (primary.clone(), secondary.clone(), k)),
                );
            }
        }
        Ok(all)
    }
}

super::impl_kvstore_via_sync!(FilesystemStore);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::test_utils::{block_on, do_test_store};
    use crate::io::MemoryStore;
    use lightning::util::persist::{migrate_kv_store_data, KVStoreSyncWrapper};

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            static N: AtomicU64 = AtomicU64::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!(
                "wasm-ln-fs-store-{name}-{}-{n}",
                std::process::id()
            ));
            let _ = fs::remove_dir_all(&dir);
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// Every file name under `dir` containing a `.`: temporary files.
    fn dotted_files(dir: &Path) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                found.extend(dotted_files(&path));
            } else if path.file_name().unwrap().to_string_lossy().contains('.') {
                found.push(path);
            }
        }
        found
    }

    #[test]
    fn passes_the_store_suite() {
        let dir = TempDir::new("suite");
        let store = FilesystemStore::new(&dir.0).unwrap();
        block_on(do_test_store(&store)).unwrap();
        block_on(do_test_store(&store)).unwrap();
        assert_eq!(dotted_files(&dir.0), Vec::<PathBuf>::new());
    }

    #[test]
    fn sync_interface_passes_the_store_suite() {
        let dir = TempDir::new("sync");
        let store = FilesystemStore::new(&dir.0).unwrap();
        block_on(do_test_store(&KVStoreSyncWrapper(&store))).unwrap();
    }

    #[test]
    fn reopened_store_sees_the_data_and_no_temp_files_remain() {
        let dir = TempDir::new("reopen");
        {
            let store = FilesystemStore::new(&dir.0).unwrap();
            for i in 0..20u8 {
                KVStoreSync::write(&store, "monitors", "", "m", vec![i; 100]).unwrap();
            }
            KVStoreSync::write(&store, "", "", "manager", b"cm".to_vec()).unwrap();
            KVStoreSync::write(&store, "monitor_updates", "chan", "1", b"u1".to_vec()).unwrap();
            KVStoreSync::write(&store, "gone", "", "k", b"x".to_vec()).unwrap();
            KVStoreSync::remove(&store, "gone", "", "k", false).unwrap();
            assert_eq!(dotted_files(&dir.0), Vec::<PathBuf>::new());
        }
        let store = FilesystemStore::new(&dir.0).unwrap();
        assert_eq!(
            KVStoreSync::read(&store, "monitors", "", "m").unwrap(),
            vec![19; 100]
        );
        assert_eq!(KVStoreSync::read(&store, "", "", "manager").unwrap(), b"cm");
        assert_eq!(
            KVStoreSync::read(&store, "monitor_updates", "chan", "1").unwrap(),
            b"u1"
        );
        assert_eq!(KVStoreSync::list(&store, "", "").unwrap(), ["manager"]);
        assert_eq!(
            KVStoreSync::list(&store, "monitor_updates", "").unwrap(),
            Vec::<String>::new()
        );
        assert!(KVStoreSync::list(&store, "gone", "").unwrap().is_empty());
        let mut all = store.list_all_keys().unwrap();
        all.sort();
        let want = [
            ("", "", "manager"),
            ("monitor_updates", "chan", "1"),
            ("monitors", "", "m"),
        ]
        .map(|(p, s, k)| (p.to_string(), s.to_string(), k.to_string()));
        assert_eq!(all, want);
    }

    #[test]
    fn temp_files_of_a_crash_are_ignored_and_cleaned_on_open() {
        let dir = TempDir::new("crash");
        let store = FilesystemStore::new(&dir.0).unwrap();
        KVStoreSync::write(&store, "monitors", "", "m", b"old".to_vec()).unwrap();
        KVStoreSync::write(&store, "monitor_updates", "chan", "1", b"u".to_vec()).unwrap();
        // What a crash between creating and renaming the temp file leaves behind.
        let torn = [
            dir.0.join("monitors/m.1-7.tmp"),
            dir.0.join("manager.1-8.tmp"),
            dir.0.join("monitor_updates/chan/2.1-9.tmp"),
        ];
        for path in &torn {
            fs::write(path, b"torn").unwrap();
        }
        assert_eq!(KVStoreSync::list(&store, "monitors", "").unwrap(), ["m"]);
        assert!(KVStoreSync::list(&store, "", "").unwrap().is_empty());
        assert_eq!(
            KVStoreSync::list(&store, "monitor_updates", "chan").unwrap(),
            ["1"]
        );
        assert_eq!(
            KVStoreSync::read(&store, "monitors", "", "m").unwrap(),
            b"old"
        );
        drop(store);
        let store = FilesystemStore::new(&dir.0).unwrap();
        for path in &torn {
            assert!(!path.exists(), "{} left", path.display());
        }
        assert_eq!(
            KVStoreSync::read(&store, "monitors", "", "m").unwrap(),
            b"old"
        );
    }

    #[test]
    fn failures_are_storage_errors() {
        let dir = TempDir::new("fail");
        fs::write(&dir.0, b"a file, not a directory").unwrap();
        let err = FilesystemStore::new(&dir.0).unwrap_err();
        assert_eq!(err.code(), "STORAGE_UNAVAILABLE", "{err}");
        let _ = fs::remove_file(&dir.0);

        let store = FilesystemStore::new(&dir.0).unwrap();
        // A key named like an existing namespace directory cannot be written or read.
        KVStoreSync::write(&store, "ns", "", "k", b"x".to_vec()).unwrap();
        assert!(KVStoreSync::write(&store, "", "", "ns", b"x".to_vec()).is_err());
        assert!(KVStoreSync::read(&store, "", "", "ns").is_err());
        assert_eq!(dotted_files(&dir.0), Vec::<PathBuf>::new());
    }

    #[test]
    fn migrates_to_and_from_memory() {
        let dir = TempDir::new("migrate");
        let mut fs_store = FilesystemStore::new(&dir.0).unwrap();
        let mut mem = MemoryStore::new();
        KVStoreSync::write(&mem, "", "", "manager", b"cm".to_vec()).unwrap();
        KVStoreSync::write(&mem, "monitors", "", "a", b"ma".to_vec()).unwrap();
        KVStoreSync::write(&mem, "monitor_updates", "a", "1", b"u".to_vec()).unwrap();
        migrate_kv_store_data(&mut mem, &mut fs_store).unwrap();
        let mut back = MemoryStore::new();
        migrate_kv_store_data(&mut fs_store, &mut back).unwrap();
        let (mut a, mut b) = (mem.list_all_keys().unwrap(), back.list_all_keys().unwrap());
        a.sort();
        b.sort();
        assert_eq!(a, b);
        for (p, s, k) in a {
            assert_eq!(
                KVStoreSync::read(&mem, &p, &s, &k).unwrap(),
                KVStoreSync::read(&back, &p, &s, &k).unwrap()
            );
        }
    }
}
