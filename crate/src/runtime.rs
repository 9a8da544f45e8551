//! The platform switch: wall-clock time, timers and task spawning for the browser and for
//! native builds. LDK without `std` never reads a clock itself; every time it needs comes from
//! here (DESIGN.md §1).
//!
//! The browser is single-threaded: [`spawn`] runs a future on the page's event loop
//! (`wasm_bindgen_futures::spawn_local`) and [`sleep`] is a `setTimeout` (gloo-timers), neither
//! needs `Send`. Natively both are tokio's, and spawned futures must be `Send` ([`MaybeSend`]).

use core::future::Future;
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;
use std::rc::Rc;

/// Set by the browser's panic hook (`wasm::panic`): see [`poisoned`].
static POISONED: AtomicBool = AtomicBool::new(false);

/// Whether Rust panicked in this wasm instance. With `panic = "abort"` the panicking call
/// never unwound, so locks, `RefCell` borrows and half-made changes it held are left as they
/// were: nothing may trust the node's memory any more. Every JavaScript call is refused and
/// the store takes no more writes (a half-updated channel state must not reach the disk).
/// Never set natively, where tokio catches a task's panic.
pub fn poisoned() -> bool {
    POISONED.load(Ordering::Acquire)
}

/// Marks the instance poisoned ([`poisoned`]), for good.
pub fn poison() {
    POISONED.store(true, Ordering::Release);
}

/// Time since the Unix epoch. In the browser `Date.now()` (millisecond resolution), natively
/// `SystemTime::now()`, which panics on wasm32-unknown-unknown and so is never used there.
pub fn now() -> Duration {
    #[cfg(target_arch = "wasm32")]
    {
        let ms = js_sys::Date::now();
        // Date.now() is a non-negative integral number of milliseconds.
        Duration::from_millis(ms.max(0.0) as u64)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
    }
}

/// Writes one log line: to the browser console at the matching level (DevTools filters by
/// it), natively to stderr with a timestamp.
pub fn write_log(level: lightning::util::logger::Level, module: &str, msg: &str) {
    #[cfg(target_arch = "wasm32")]
    {
        use lightning::util::logger::Level;
        let line = wasm_bindgen::JsValue::from_str(&format!("[{level} {module}] {msg}"));
        match level {
            Level::Error => web_sys::console::error_1(&line),
            Level::Warn => web_sys::console::warn_1(&line),
            Level::Info => web_sys::console::info_1(&line),
            _ => web_sys::console::debug_1(&line),
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let t = now();
        eprintln!(
            "{}.{:03} {level:<5} [{module}] {msg}",
            t.as_secs(),
            t.subsec_millis()
        );
    }
}

/// Waits `d`. In the browser a `setTimeout` (gloo-timers; the future is `!Send`), natively
/// `tokio::time::sleep` (needs a tokio runtime with timers).
/// Lets the other tasks of this thread run once, without a timer (a hidden tab throttles
/// timers to once a second, and later once a minute; this costs one turn of the executor).
pub async fn yield_now() {
    let mut yielded = false;
    core::future::poll_fn(|cx| {
        if yielded {
            core::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            core::task::Poll::Pending
        }
    })
    .await
}

pub async fn sleep(d: Duration) {
    #[cfg(target_arch = "wasm32")]
    {
        gloo_timers::future::sleep(d).await
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        tokio::time::sleep(d).await
    }
}

/// The `esplora_client::Sleeper` behind our `AsyncClient` (its retry back-off on HTTP 429/5xx):
/// the same timers as [`sleep`] on both targets. The trait asks for no `Send`, so gloo's `!Send` timer is fine in
/// the browser; esplora-client's own `DefaultSleeper` is tokio's and would panic there.
#[derive(Clone, Copy, Debug, Default)]
pub struct EsploraSleeper;

impl esplora_client::Sleeper for EsploraSleeper {
    #[cfg(target_arch = "wasm32")]
    type Sleep = BrowserSleep;
    // `Send`, so the client's futures stay `Send` natively (they run on tokio's threads).
    #[cfg(not(target_arch = "wasm32"))]
    type Sleep = tokio::time::Sleep;

    fn sleep(dur: Duration) -> Self::Sleep {
        #[cfg(target_arch = "wasm32")]
        {
            BrowserSleep(gloo_timers::future::sleep(dur))
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            tokio::time::sleep(dur)
        }
    }
}

/// A browser timer that is `Send`: `bdk_esplora`'s `EsploraAsyncExt` is implemented only for
/// clients whose sleeper's future is `Send`, on every target.
#[cfg(target_arch = "wasm32")]
#[derive(Debug)]
pub struct BrowserSleep(gloo_timers::future::TimeoutFuture);

// SAFETY: wasm32-unknown-unknown without the `atomics` target feature has exactly one thread,
// so no value can ever reach another thread; `Send` is vacuous there. With `atomics` (shared
// memory, threads) this impl does not exist and the build fails instead.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
unsafe impl Send for BrowserSleep {}

#[cfg(target_arch = "wasm32")]
impl Future for BrowserSleep {
    type Output = ();

    fn poll(
        mut self: core::pin::Pin<&mut Self>,
        cx: &mut core::task::Context<'_>,
    ) -> core::task::Poll<()> {
        core::pin::Pin::new(&mut self.0).poll(cx)
    }
}

/// `Send` natively, where tasks may move between tokio's threads; nothing in the browser, where
/// there is one thread and JavaScript futures are `!Send` (LDK's `MaybeSend` pattern).
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSend: Send {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Send + ?Sized> MaybeSend for T {}
/// `Send` natively, where tasks may move between tokio's threads; nothing in the browser, where
/// there is one thread and JavaScript futures are `!Send` (LDK's `MaybeSend` pattern).
#[cfg(target_arch = "wasm32")]
pub trait MaybeSend {}
#[cfg(target_arch = "wasm32")]
impl<T: ?Sized> MaybeSend for T {}

/// Runs `fut` in the background. In the browser on the event loop (`spawn_local`); natively on
/// the current tokio runtime, or, called outside one, on a new thread with its own
/// current-thread runtime.
pub fn spawn<F>(fut: F)
where
    F: Future<Output = ()> + MaybeSend + 'static,
{
    #[cfg(target_arch = "wasm32")]
    {
        wasm_bindgen_futures::spawn_local(fut)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(fut);
            }
            Err(_) => {
                std::thread::spawn(move || {
                    match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(rt) => rt.block_on(fut),
                        Err(e) => log_warn(&format!("cannot start a runtime for a task: {e}")),
                    }
                });
            }
        }
    }
}

/// Runs a `!Send` future in the background on this thread: in the browser [`spawn`]'s event
/// loop; natively `tokio::task::spawn_local`, which needs a current tokio `LocalSet` (the
/// transport's drivers hold LDK's `PeerManager`, which is `!Sync` without `std`).
///
/// Natively, a task spawned from inside a supervised one ([`spawn_local_supervised`],
/// [`with_panic_handler`]) is supervised by the same handler.
///
/// # Panics
///
/// Natively, when called outside a tokio `LocalSet`.
pub fn spawn_local<F>(fut: F)
where
    F: Future<Output = ()> + 'static,
{
    #[cfg(target_arch = "wasm32")]
    {
        wasm_bindgen_futures::spawn_local(fut)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let handler = PANIC_HANDLER.try_with(Rc::clone).ok();
        drop(tokio::task::spawn_local(supervised(fut, handler)));
    }
}

/// What a supervised task calls, with the panic's message, when it panics.
pub type PanicHandler = Rc<dyn Fn(String)>;

#[cfg(not(target_arch = "wasm32"))]
tokio::task_local! {
    static PANIC_HANDLER: PanicHandler;
}

/// [`spawn_local`], supervised: natively, a panic in `fut`, or in a task it spawns with
/// [`spawn_local`], ends that task and calls `on_panic` with the panic's message (tokio
/// alone would end only that task, silently for everything else). In the browser a panic
/// aborts the whole instance (`panic = "abort"`) and the panic hook reports it, so
/// `on_panic` is never called there.
pub fn spawn_local_supervised<F>(fut: F, on_panic: PanicHandler)
where
    F: Future<Output = ()> + 'static,
{
    #[cfg(target_arch = "wasm32")]
    {
        drop(on_panic);
        wasm_bindgen_futures::spawn_local(fut)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        drop(tokio::task::spawn_local(supervised(fut, Some(on_panic))));
    }
}

/// Awaits `fut` with `on_panic` supervising the tasks it spawns with [`spawn_local`] (natively;
/// a panic in `fut` itself reaches the caller as usual).
pub async fn with_panic_handler<F: Future>(on_panic: PanicHandler, fut: F) -> F::Output {
    #[cfg(target_arch = "wasm32")]
    {
        drop(on_panic);
        fut.await
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        PANIC_HANDLER.scope(on_panic, fut).await
    }
}

#[cfg(not(target_arch = "wasm32"))]
async fn supervised<F: Future<Output = ()>>(fut: F, handler: Option<PanicHandler>) {
    let Some(handler) = handler else {
        return fut.await;
    };
    let result = PANIC_HANDLER
        .scope(Rc::clone(&handler), CatchUnwind(Box::pin(fut)))
        .await;
    if let Err(message) = result {
        handler(message);
    }
}

/// A future that turns a panic while it is polled into `Err(message)`.
#[cfg(not(target_arch = "wasm32"))]
struct CatchUnwind<F>(core::pin::Pin<Box<F>>);

#[cfg(not(target_arch = "wasm32"))]
impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, String>;

    fn poll(
        mut self: core::pin::Pin<&mut Self>,
        cx: &mut core::task::Context<'_>,
    ) -> core::task::Poll<Self::Output> {
        use core::task::Poll;
        let inner = self.0.as_mut();
        // The future is dropped, never polled again, after a panic: no broken state of it
        // is observed.
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(panic_message(&*payload))),
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".into()
    }
}

/// Logs a warning: the browser console, or stderr natively.
pub fn log_warn(msg: &str) {
    #[cfg(target_arch = "wasm32")]
    {
        web_sys::console::warn_1(&wasm_bindgen::JsValue::from_str(&format!("wasm-ln: {msg}")))
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        eprintln!("wasm-ln: {msg}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_after_2024_and_moves_forward() {
        let a = now();
        assert!(a.as_secs() > 1_704_067_200, "{a:?}");
        let b = now();
        assert!(b >= a);
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[tokio::test]
    async fn sleep_and_spawn_work_natively() {
        let start = std::time::Instant::now();
        <EsploraSleeper as esplora_client::Sleeper>::sleep(Duration::from_millis(20)).await;
        assert!(start.elapsed() >= Duration::from_millis(20));
        let (tx, rx) = std::sync::mpsc::channel();
        spawn(async move {
            sleep(Duration::from_millis(1)).await;
            let _ = tx.send(7u8);
        });
        let mut got = None;
        for _ in 0..200 {
            if let Ok(v) = rx.try_recv() {
                got = Some(v);
                break;
            }
            sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(got, Some(7));
    }

    /// A panic in a supervised task, or in a task it spawned, reaches the handler with its
    /// message; the other tasks go on.
    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn a_panicking_supervised_task_is_reported() {
        use std::cell::RefCell;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let seen = Rc::new(RefCell::new(Vec::<String>::new()));
        let handler: PanicHandler = {
            let seen = Rc::clone(&seen);
            Rc::new(move |m| seen.borrow_mut().push(m))
        };
        tokio::task::LocalSet::new().block_on(&rt, async {
            spawn_local_supervised(
                async {
                    sleep(Duration::from_millis(1)).await;
                    panic!("first");
                },
                Rc::clone(&handler),
            );
            spawn_local_supervised(
                async {
                    spawn_local(async {
                        sleep(Duration::from_millis(1)).await;
                        panic!("second, {}", 2);
                    });
                },
                Rc::clone(&handler),
            );
            with_panic_handler(Rc::clone(&handler), async {
                spawn_local(async { panic!("third") });
            })
            .await;
            // Unsupervised: tokio ends it, nobody is told.
            spawn_local(async { panic!("unsupervised") });
            for _ in 0..200 {
                if seen.borrow().len() == 3 {
                    break;
                }
                sleep(Duration::from_millis(5)).await;
            }
        });
        let mut seen = seen.borrow().clone();
        seen.sort();
        assert_eq!(seen, ["first", "second, 2", "third"]);
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn spawn_outside_a_runtime_uses_its_own_thread() {
        let (tx, rx) = std::sync::mpsc::channel();
        spawn(async move {
            sleep(Duration::from_millis(1)).await;
            let _ = tx.send(1u8);
        });
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(1));
    }
}
