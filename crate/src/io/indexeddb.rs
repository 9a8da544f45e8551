//! [`IndexedDbStore`]: LDK's async [`KVStore`] over the browser's IndexedDB (DESIGN.md §1
//! "Storage", §6 "Write order" and "Strict durability from Rust"). wasm32 only.
//!
//! One database per node (its name is the caller's), one object store, [`OBJECT_STORE`], whose
//! keys are the strings `primary/secondary/key` and whose values are `Uint8Array`s. `/` is not
//! in [`KVSTORE_NAMESPACE_KEY_ALPHABET`](super::KVSTORE_NAMESPACE_KEY_ALPHABET), so the
//! mapping is one-to-one and a namespace's keys are exactly those under its
//! `primary/secondary/` prefix.
//!
//! # Write order
//!
//! `write` and `remove` create their readwrite transaction and issue its `put`/`delete` before
//! they return; the future they return only waits for the transaction to finish. IndexedDB
//! runs readwrite transactions with overlapping scope in the order they were created, so the
//! writes take effect in call order however their futures are polled. (Creating the
//! transaction inside the future instead would order them by first poll.) `read` and `list`
//! also issue their request inside the call, so they see every write called before them.
//!
//! # Durability
//!
//! Readwrite transactions are opened with `durability: "strict"`, and a write's future
//! resolves on the transaction's `complete` event, not on the request's `success`: when it
//! resolves, the browser has reported the data flushed to disk. A failed or aborted
//! transaction (quota exceeded, database closed, …) fails the future.

use core::future::Future;
use core::pin::Pin;

use js_sys::{Function, Object, Promise, Reflect, Uint8Array};
use lightning::io;
use lightning::util::async_poll::AsyncResult;
use lightning::util::persist::KVStore;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    DomException, IdbDatabase, IdbFactory, IdbKeyRange, IdbObjectStore, IdbRequest, IdbTransaction,
    IdbTransactionMode,
};

use super::check_namespace_key;
use crate::Error;

/// The one object store in each node's database.
pub const OBJECT_STORE: &str = "kv";

/// Version of the database schema (one object store, string keys, `Uint8Array` values).
const DB_VERSION: u32 = 1;

#[wasm_bindgen]
extern "C" {
    /// An `IDBDatabase`, for the one method web-sys lacks without
    /// `--cfg=web_sys_unstable_apis`.
    type RawDatabase;

    /// `IDBDatabase.transaction(storeNames, mode, options)`, for `durability`.
    #[wasm_bindgen(method, catch, js_name = transaction)]
    fn transaction_with_options(
        this: &RawDatabase,
        store_names: &str,
        mode: &str,
        options: &Object,
    ) -> Result<IdbTransaction, JsValue>;
}

/// LDK's async key-value store over IndexedDB. See the module documentation for the layout,
/// the write order and durability. Futures are `!Send` (fine: LDK without `std` asks for no
/// `Send`). Dropping the store closes the database once its pending transactions finish.
#[derive(Debug)]
pub struct IndexedDbStore {
    db: IdbDatabase,
    name: String,
}

impl IndexedDbStore {
    /// Opens (creating if needed) the database `name` in this origin's IndexedDB.
    ///
    /// Fails with [`Error::StorageUnavailable`] when there is no IndexedDB in this global
    /// scope (window or worker), when the browser refuses it (private mode, storage disabled,
    /// an opaque origin), or when the database cannot be opened or upgraded.
    pub async fn open(name: &str) -> Result<Self, Error> {
        Self::open_in(&js_sys::global(), name).await
    }

    /// [`Self::open`] with the `indexedDB` of `global` (tests pass a global without one).
    #[doc(hidden)]
    pub async fn open_in(global: &JsValue, name: &str) -> Result<Self, Error> {
        let unavailable = |why: String| Error::StorageUnavailable(format!("IndexedDB: {why}"));
        let factory = indexed_db_factory(global).map_err(unavailable)?;
        let request = factory
            .open_with_u32(name, DB_VERSION)
            .map_err(|e| unavailable(format!("cannot open {name:?}: {}", describe(&e))))?;

        // Runs inside the open request's versionchange transaction, before `success`.
        let upgrade_target = request.clone();
        let on_upgrade = Closure::<dyn FnMut(JsValue)>::new(move |_event: JsValue| {
            if let Ok(result) = upgrade_target.result() {
                if let Ok(db) = result.dyn_into::<IdbDatabase>() {
                    if !db.object_store_names().contains(OBJECT_STORE) {
                        // A failure here aborts the upgrade, which fails the open request.
                        let _ = db.create_object_store(OBJECT_STORE);
                    }
                }
            }
        });
        request.set_onupgradeneeded(Some(on_upgrade.as_ref().unchecked_ref()));
        // `blocked` (another connection on an older version) is not fatal: the open goes on
        // once that connection closes, which ours do on `versionchange`.
        let done = Events::new(&request, "success", &["error"]);
        let outcome = done.wait().await;
        request.set_onupgradeneeded(None);
        drop(on_upgrade);
        if outcome.is_err() {
            return Err(unavailable(format!(
                "cannot open {name:?}: {}",
                request_error(&request)
            )));
        }
        let db = request
            .result()
            .ok()
            .and_then(|r| r.dyn_into::<IdbDatabase>().ok())
            .ok_or_else(|| unavailable(format!("opening {name:?} gave no database")))?;
        if !db.object_store_names().contains(OBJECT_STORE) {
            db.close();
            return Err(unavailable(format!(
                "database {name:?} has no {OBJECT_STORE:?} object store"
            )));
        }
        // Another tab deleting or upgrading the database: let it, our next call fails.
        let closer = db.clone();
        let on_versionchange = Closure::once_into_js(move |_: JsValue| {
            closer.close();
        });
        db.set_onversionchange(Some(on_versionchange.unchecked_ref()));
        Ok(Self {
            db,
            name: name.to_owned(),
        })
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Deletes the database `name` and everything in it. Waits until it is gone, which is
    /// after every open connection to it has closed.
    pub async fn delete(name: &str) -> Result<(), Error> {
        let unavailable = |why: String| Error::StorageUnavailable(format!("IndexedDB: {why}"));
        let factory = indexed_db_factory(&js_sys::global()).map_err(unavailable)?;
        let request = factory
            .delete_database(name)
            .map_err(|e| unavailable(format!("cannot delete {name:?}: {}", describe(&e))))?;
        // `blocked` is not fatal: the deletion goes on once open connections close (ours
        // close on `versionchange`; dropped stores close after their last transaction).
        match Events::new(&request, "success", &["error"]).wait().await {
            Ok(_) => Ok(()),
            Err(_) => Err(unavailable(format!(
                "cannot delete {name:?}: {}",
                request_error(&request)
            ))),
        }
    }

    /// A transaction over the object store, and the store. Readwrite ones are strict.
    fn object_store(&self, readwrite: bool) -> Result<(IdbTransaction, IdbObjectStore), io::Error> {
        let tx = if readwrite {
            let options = Object::new();
            Reflect::set(&options, &"durability".into(), &"strict".into())
                .map_err(|e| js_io_error("setting transaction options", &e))?;
            self.db
                .unchecked_ref::<RawDatabase>()
                .transaction_with_options(OBJECT_STORE, "readwrite", &options)
        } else {
            self.db
                .transaction_with_str_and_mode(OBJECT_STORE, IdbTransactionMode::Readonly)
        }
        .map_err(|e| js_io_error("starting a transaction", &e))?;
        let store = tx
            .object_store(OBJECT_STORE)
            .map_err(|e| js_io_error("opening the object store", &e))?;
        Ok((tx, store))
    }

    /// Starts a readwrite transaction and issues `op` in it, now; the future waits for the
    /// transaction to commit.
    fn start_write(
        &self,
        what: String,
        op: impl FnOnce(&IdbObjectStore) -> Result<IdbRequest, JsValue>,
    ) -> Result<Pending<()>, io::Error> {
        let (tx, store) = self.object_store(true)?;
        if let Err(e) = op(&store) {
            tx.abort().ok();
            return Err(js_io_error(&what, &e));
        }
        // `error` on a request bubbles to the transaction and is followed by `abort`.
        let done = Events::new(&tx, "complete", &["abort"]);
        Ok(Box::pin(async move {
            match done.wait().await {
                Ok(_) => Ok(()),
                Err(_) => Err(tx_error(&what, &tx)),
            }
        }))
    }

    /// Starts a readonly request now; the future waits for its result.
    fn start_read(
        &self,
        what: String,
        op: impl FnOnce(&IdbObjectStore) -> Result<IdbRequest, JsValue>,
    ) -> Result<Pending<JsValue>, io::Error> {
        let (_tx, store) = self.object_store(false)?;
        let request = op(&store).map_err(|e| js_io_error(&what, &e))?;
        let done = Events::new(&request, "success", &["error"]);
        Ok(Box::pin(async move {
            match done.wait().await {
                Ok(_) => request.result().map_err(|e| js_io_error(&what, &e)),
                Err(_) => Err(io::Error::new(
                    io::ErrorKind::Other,
                    format!("{what}: {}", request_error(&request)),
                )),
            }
        }))
    }
}

impl Drop for IndexedDbStore {
    fn drop(&mut self) {
        self.db.set_onversionchange(None);
        // Pending transactions still complete; then the connection closes.
        self.db.close();
    }
}

/// A request or transaction already issued, waiting to finish.
type Pending<T> = Pin<Box<dyn Future<Output = Result<T, io::Error>>>>;

/// The database key of a value.
fn db_key(primary_namespace: &str, secondary_namespace: &str, key: &str) -> String {
    format!("{primary_namespace}/{secondary_namespace}/{key}")
}

impl KVStore for IndexedDbStore {
    fn read(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
    ) -> AsyncResult<'static, Vec<u8>, io::Error> {
        let started = check_namespace_key(primary_namespace, secondary_namespace, Some(key))
            .and_then(|()| {
                let k = db_key(primary_namespace, secondary_namespace, key);
                let what = format!("reading {k}");
                self.start_read(what, |store| store.get(&JsValue::from_str(&k)))
                    .map(|fut| (fut, k))
            });
        Box::pin(async move {
            let (fut, k) = started?;
            let value = fut.await?;
            if value.is_undefined() {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("no value at {k}"),
                ));
            }
            let bytes = value.dyn_into::<Uint8Array>().map_err(|_| {
                io::Error::new(io::ErrorKind::Other, format!("{k} holds no Uint8Array"))
            })?;
            Ok(bytes.to_vec())
        })
    }

    fn write(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
        buf: Vec<u8>,
    ) -> AsyncResult<'static, (), io::Error> {
        let started = check_namespace_key(primary_namespace, secondary_namespace, Some(key))
            .and_then(|()| {
                let k = db_key(primary_namespace, secondary_namespace, key);
                let value = Uint8Array::from(&buf[..]);
                self.start_write(format!("writing {k}"), |store| {
                    store.put_with_key(&value, &JsValue::from_str(&k))
                })
            });
        Box::pin(async move { started?.await })
    }

    /// Removes at once, whether `lazy` or not (a missing key is no error).
    fn remove(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
        _lazy: bool,
    ) -> AsyncResult<'static, (), io::Error> {
        let started = check_namespace_key(primary_namespace, secondary_namespace, Some(key))
            .and_then(|()| {
                let k = db_key(primary_namespace, secondary_namespace, key);
                self.start_write(format!("removing {k}"), |store| {
                    store.delete(&JsValue::from_str(&k))
                })
            });
        Box::pin(async move { started?.await })
    }

    fn list(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
    ) -> AsyncResult<'static, Vec<String>, io::Error> {
        let started =
            check_namespace_key(primary_namespace, secondary_namespace, None).and_then(|()| {
                let prefix = format!("{primary_namespace}/{secondary_namespace}/");
                // Every key of the namespace is the prefix followed by alphabet characters,
                // all below U+FFFF.
                let range = IdbKeyRange::bound_with_lower_open_and_upper_open(
                    &JsValue::from_str(&prefix),
                    &JsValue::from_str(&format!("{prefix}\u{ffff}")),
                    false,
                    true,
                )
                .map_err(|e| js_io_error("building a key range", &e))?;
                let what = format!("listing {prefix}");
                self.start_read(what, |store| store.get_all_keys_with_key(&range))
                    .map(|fut| (fut, prefix))
            });
        Box::pin(async move {
            let (fut, prefix) = started?;
            let keys = fut.await?;
            let keys = keys.dyn_into::<js_sys::Array>().map_err(|_| {
                io::Error::new(io::ErrorKind::Other, format!("listing {prefix}: no array"))
            })?;
            Ok(keys
                .iter()
                .filter_map(|k| k.as_string())
                .filter_map(|k| {
                    k.strip_prefix(&prefix)
                        .filter(|rest| !rest.is_empty() && !rest.contains('/'))
                        .map(str::to_owned)
                })
                .collect())
        })
    }
}

/// `indexedDB` of a global scope (window or worker).
fn indexed_db_factory(global: &JsValue) -> Result<IdbFactory, String> {
    let factory = Reflect::get(global, &JsValue::from_str("indexedDB"))
        .map_err(|e| format!("not accessible here: {}", describe(&e)))?;
    if factory.is_undefined() || factory.is_null() {
        return Err("not available in this browser context".to_owned());
    }
    factory
        .dyn_into::<IdbFactory>()
        .map_err(|_| "`indexedDB` is not an IDBFactory".to_owned())
}

/// Waits for one of a target's events, keeping its handlers alive until then and clearing
/// them afterwards (or when dropped unfinished). Resolves with the event named `ok`, fails
/// with any of `fail`. The handlers are installed when this is created, i.e. synchronously in
/// the call that issued the request.
struct Events {
    target: JsValue,
    names: Vec<&'static str>,
    _handlers: Vec<Closure<dyn FnMut(JsValue)>>,
    future: JsFuture,
}

impl Events {
    fn new(target: &JsValue, ok: &'static str, fail: &[&'static str]) -> Self {
        let mut handlers = Vec::new();
        let mut names = Vec::new();
        let mut executor = |resolve: Function, reject: Function| {
            let resolve = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
                let _ = resolve.call1(&JsValue::UNDEFINED, &event);
            });
            let _ = Reflect::set(target, &format!("on{ok}").into(), resolve.as_ref());
            handlers.push(resolve);
            names.push(ok);
            for &name in fail {
                let reject = reject.clone();
                let handler = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
                    let _ = reject.call1(&JsValue::UNDEFINED, &event);
                });
                let _ = Reflect::set(target, &format!("on{name}").into(), handler.as_ref());
                handlers.push(handler);
                names.push(name);
            }
        };
        // The executor runs synchronously, inside `Promise::new`.
        let promise = Promise::new(&mut executor);
        Self {
            target: target.clone(),
            names,
            _handlers: handlers,
            future: JsFuture::from(promise),
        }
    }

    async fn wait(mut self) -> Result<JsValue, JsValue> {
        (&mut self.future).await
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = Reflect::set(&self.target, &format!("on{name}").into(), &JsValue::NULL);
        }
    }
}

/// A failed request's error, described.
fn request_error(request: &IdbRequest) -> String {
    match request.error() {
        Ok(Some(e)) => describe_dom_exception(&e),
        Ok(None) => "unknown error".to_owned(),
        Err(e) => describe(&e),
    }
}

/// A failed or aborted transaction's error.
fn tx_error(what: &str, tx: &IdbTransaction) -> io::Error {
    let why = match tx.error() {
        Some(e) => describe_dom_exception(&e),
        None => "the transaction was aborted".to_owned(),
    };
    io::Error::new(io::ErrorKind::Other, format!("{what}: {why}"))
}

fn js_io_error(what: &str, e: &JsValue) -> io::Error {
    io::Error::new(io::ErrorKind::Other, format!("{what}: {}", describe(e)))
}

fn describe_dom_exception(e: &DomException) -> String {
    let name = e.name();
    if name == "QuotaExceededError" {
        format!(
            "the browser's storage quota is exhausted (QuotaExceededError: {}); free space \
             or grant the site persistent storage",
            e.message()
        )
    } else {
        format!("{name}: {}", e.message())
    }
}

/// Any thrown JS value, described.
fn describe(e: &JsValue) -> String {
    if let Some(dom) = e.dyn_ref::<DomException>() {
        describe_dom_exception(dom)
    } else if let Some(err) = e.dyn_ref::<js_sys::Error>() {
        format!(
            "{}: {}",
            String::from(err.name()),
            String::from(err.message())
        )
    } else if let Some(s) = e.as_string() {
        s
    } else {
        format!("{e:?}")
    }
}
