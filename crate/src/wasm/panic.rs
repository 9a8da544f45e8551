//! A Rust panic in the browser (DESIGN.md §5). wasm32 builds abort on panic: the call that
//! panicked stops dead inside the wasm, with whatever locks, borrows and half-made changes it
//! held, and JavaScript sees a `WebAssembly.RuntimeError: unreachable`. The instance keeps
//! running, but its memory can no longer be trusted. So the hook installed here:
//!
//! - logs the panic's message and location (`runtime::write_log`, the node's log seam);
//! - poisons the instance ([`runtime::poison`]): every later call is refused with `INTERNAL`
//!   and [`POISONED_MESSAGE`] by [`enter`], before any more of the node's code runs, and the
//!   store takes no more writes;
//! - rejects the calls still pending (their futures will never finish) the same way, so no
//!   Promise hangs; a payment in flight rejects with `PAYMENT_PENDING` instead (its HTLC may
//!   be out: it may still complete, and must not be paid again).
//!
//! It runs as little Rust as it can: no node is touched (`NodeInner::fail` would take locks
//! the panicking code may hold); the node's Web Locks stay held until the page goes, so no
//! other tab opens the node while this one still has it in memory.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::sync::Once;

use js_sys::{Function, Promise};
use lightning::util::logger::Level;
use wasm_bindgen::prelude::*;

use crate::runtime;

/// What every call rejects with, as an `INTERNAL` `LnError`, once the instance panicked.
pub const POISONED_MESSAGE: &str = "the node stopped after an internal error; reload the page";

static INSTALL: Once = Once::new();

thread_local! {
    /// The `reject` functions of the Promises handed out and not yet settled, and whether
    /// each is a payment.
    static PENDING: RefCell<BTreeMap<u64, (Function, bool)>> = const { RefCell::new(BTreeMap::new()) };
    static NEXT_CALL: Cell<u64> = const { Cell::new(0) };
}

/// Called first by every export: installs the panic hook (once), and refuses the call once
/// the instance panicked. No Rust runs before the first export call, so installing here is
/// installing at start; a `#[wasm_bindgen(start)]` would be replaced in tests by
/// wasm-bindgen-test's own hook, and would keep an application bundling this crate from
/// having a start function of its own.
pub fn enter() -> Result<(), JsValue> {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            on_panic(info);
            previous(info);
        }));
    });
    if runtime::poisoned() {
        Err(poisoned_error())
    } else {
        Ok(())
    }
}

/// The `INTERNAL` `LnError` of a poisoned instance.
pub fn poisoned_error() -> JsValue {
    let js = js_sys::Error::new(POISONED_MESSAGE);
    js.set_name("LnError");
    let _ = js_sys::Reflect::set(&js, &"code".into(), &"INTERNAL".into());
    js.into()
}

fn on_panic(info: &std::panic::PanicHookInfo<'_>) {
    // A failed assertion of a test itself (crate/tests) is wasm-bindgen-test's to report; it
    // goes on with the next test, which must not find the instance poisoned. No file of a
    // `tests` directory is ever part of a library build.
    if info
        .location()
        .is_some_and(|l| l.file().starts_with("tests/") || l.file().contains("/tests/"))
    {
        return;
    }
    let again = runtime::poisoned();
    runtime::poison();
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    let location = info
        .location()
        .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
        .unwrap_or_else(|| "an unknown location".into());
    let after = if again { " (again)" } else { "" };
    runtime::write_log(
        Level::Error,
        "wasm_ln::panic",
        &format!(
            "panicked{after} at {location}: {message}. The node stopped: every call now fails \
             with INTERNAL \"{POISONED_MESSAGE}\". Please report this bug."
        ),
    );
    // `try_`: the panic may have struck while the table was borrowed.
    let pending = PENDING
        .try_with(|p| p.try_borrow_mut().map(|mut p| std::mem::take(&mut *p)))
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    if !pending.is_empty() {
        let error = poisoned_error();
        let payment = payment_pending_error();
        for (reject, is_payment) in pending.values() {
            let e = if *is_payment { &payment } else { &error };
            let _ = reject.call1(&JsValue::UNDEFINED, e);
        }
    }
}

/// What a payment call pending at the panic rejects with.
fn payment_pending_error() -> JsValue {
    let js = js_sys::Error::new(
        "the node stopped after an internal error while this payment was in flight: it may \
         still complete, so do not pay again; reload the page and look at it in listPayments()",
    );
    js.set_name("LnError");
    let _ = js_sys::Reflect::set(&js, &"code".into(), &"PAYMENT_PENDING".into());
    js.into()
}

/// Runs `fut` as a Promise that also rejects with `INTERNAL` if a panic strikes (here or in
/// any other task) before it settles; refused at once on a poisoned instance.
pub fn guarded<F>(fut: F) -> Promise
where
    F: core::future::Future<Output = Result<JsValue, JsValue>> + 'static,
{
    guarded_call(fut, false)
}

/// [`guarded`] for a payment: a panic before it settles rejects it with `PAYMENT_PENDING`.
pub fn guarded_payment<F>(fut: F) -> Promise
where
    F: core::future::Future<Output = Result<JsValue, JsValue>> + 'static,
{
    guarded_call(fut, true)
}

fn guarded_call<F>(fut: F, payment: bool) -> Promise
where
    F: core::future::Future<Output = Result<JsValue, JsValue>> + 'static,
{
    if let Err(e) = enter() {
        return Promise::reject(&e);
    }
    let mut settle = None;
    // The executor runs synchronously, inside `new`.
    let promise = Promise::new(&mut |resolve, reject| settle = Some((resolve, reject)));
    let Some((resolve, reject)) = settle else {
        return Promise::reject(&JsValue::from_str("Promise executor not called"));
    };
    let id = NEXT_CALL.with(|n| {
        let id = n.get();
        n.set(id + 1);
        id
    });
    PENDING.with(|p| p.borrow_mut().insert(id, (reject.clone(), payment)));
    wasm_bindgen_futures::spawn_local(async move {
        let result = fut.await;
        PENDING.with(|p| p.borrow_mut().remove(&id));
        // A result reached after a panic elsewhere may rest on corrupted state.
        let result = if runtime::poisoned() {
            Err(poisoned_error())
        } else {
            result
        };
        let _ = match result {
            Ok(v) => resolve.call1(&JsValue::UNDEFINED, &v),
            Err(e) => reject.call1(&JsValue::UNDEFINED, &e),
        };
    });
    promise
}

/// Panics on purpose, in a task of its own, as a bug in the node would: the browser test of
/// the hook (`tests/web_panic.rs`). Only with the `test-panic` feature, never in the package.
#[cfg(feature = "test-panic")]
#[wasm_bindgen(js_name = testPanic, unchecked_return_type = "Promise<void>")]
pub fn test_panic(message: String) -> Promise {
    guarded(async move {
        // After the first await: the panic strikes in the task queue, not in this call.
        crate::runtime::sleep(core::time::Duration::from_millis(1)).await;
        panic!("{message}");
    })
}
