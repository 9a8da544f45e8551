//! One node, one running instance: a Web Lock held for the node's life. Two tabs (or a tab
//! and a worker) running one node would each sign commitment updates the other does not
//! know of, and the older state is a revoked one: broadcasting it loses the channel's funds.
//! The browser releases the lock when the holder's tab or worker dies.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::Error;

/// A held Web Lock. [`WebLock::release`] frees it and waits until the browser has; dropping
/// it frees it too, a moment later.
pub struct WebLock {
    name: String,
    release: Option<Function>,
    // Settles once the browser has let the lock go.
    released: Promise,
}

impl core::fmt::Debug for WebLock {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WebLock").field("name", &self.name).finish()
    }
}

fn js_err(what: &str) -> impl Fn(JsValue) -> Error + '_ {
    move |e| Error::Internal(format!("{what}: {e:?}"))
}

fn lock_manager() -> Result<JsValue, Error> {
    let global = js_sys::global();
    let navigator = Reflect::get(&global, &"navigator".into()).unwrap_or(JsValue::UNDEFINED);
    let locks = if navigator.is_object() {
        Reflect::get(&navigator, &"locks".into()).unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    };
    if locks.is_object() {
        Ok(locks)
    } else {
        // Without it nothing stops a second tab: refuse to run rather than risk it.
        Err(Error::StorageUnavailable(
            "the Web Locks API is missing (it needs a secure context: https or localhost); \
             without it two tabs could run the same node"
                .into(),
        ))
    }
}

impl WebLock {
    /// Takes the exclusive lock `name` if no other tab or worker of this origin holds it;
    /// `Ok(None)` if one does. Never waits for it.
    pub async fn try_acquire(name: &str) -> Result<Option<WebLock>, Error> {
        let locks = lock_manager()?;
        // The browser calls `callback` with the lock (or null when it is taken) and holds
        // the lock until the promise the callback returns settles: we keep that promise's
        // `resolve` and call it to release.
        let mut report: Option<Function> = None;
        let acquired = Promise::new(&mut |resolve, _| report = Some(resolve));
        let report = report.ok_or_else(|| Error::Internal("Promise executor not run".into()))?;
        let release: Rc<RefCell<Option<Function>>> = Rc::new(RefCell::new(None));
        let slot = Rc::clone(&release);
        let callback = Closure::once_into_js(move |lock: JsValue| -> JsValue {
            if lock.is_null() {
                let _ = report.call1(&JsValue::NULL, &JsValue::FALSE);
                return JsValue::UNDEFINED;
            }
            let held = Promise::new(&mut |resolve, _| *slot.borrow_mut() = Some(resolve));
            let _ = report.call1(&JsValue::NULL, &JsValue::TRUE);
            held.into()
        });
        let options = Object::new();
        Reflect::set(&options, &"ifAvailable".into(), &JsValue::TRUE)
            .map_err(js_err("lock options"))?;
        let request: Function = Reflect::get(&locks, &"request".into())
            .map_err(js_err("navigator.locks.request"))?
            .dyn_into()
            .map_err(js_err("navigator.locks.request"))?;
        let requested: Promise = request
            .call3(&locks, &name.into(), &options, &callback)
            .map_err(js_err("navigator.locks.request"))?
            .dyn_into()
            .map_err(js_err("navigator.locks.request"))?;
        // `requested` settles first only if the request failed before calling back.
        let outcome = JsFuture::from(Promise::race(&Array::of2(&acquired, &requested)))
            .await
            .map_err(js_err("navigator.locks.request"))?;
        if outcome.as_bool() != Some(true) {
            return Ok(None);
        }
        let release = release.borrow_mut().take();
        Ok(Some(WebLock {
            name: name.to_string(),
            release,
            released: requested,
        }))
    }

    /// Frees the lock; returns once another context can take it.
    pub async fn release(mut self) {
        if let Some(release) = self.release.take() {
            let _ = release.call0(&JsValue::NULL);
        }
        let _ = JsFuture::from(self.released.clone()).await;
    }
}

impl Drop for WebLock {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            let _ = release.call0(&JsValue::NULL);
        }
    }
}
