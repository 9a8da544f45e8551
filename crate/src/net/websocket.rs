//! The browser's transport: a `WebSocket` to the WS→TCP proxy (DESIGN.md §1 "Transport";
//! `proxy/README.md`) as a transport [`Connection`]. Binary frames carry the byte stream (a
//! frame boundary is not a message boundary); a text frame is a protocol error.
//!
//! The socket's event handlers only queue what they got into shared state and wake the
//! driver, after releasing the `RefCell` borrow; no borrow is held while calling into
//! JavaScript. `WebSocket.send` and `close` never run a handler synchronously.
//!
//! **Backpressure.** `WebSocket` has no "drained" event: [`poll_send`](Connection::poll_send)
//! accepts data while `bufferedAmount` is below [`SEND_BUFFER_LIMIT`], and otherwise returns
//! `Pending` and polls again after [`SEND_RETRY`] (or earlier, when a message arrives).

use core::cell::RefCell;
use core::ops::Deref;
use core::task::{Context, Poll, Waker};
use core::time::Duration;
use std::collections::VecDeque;
use std::io;
use std::rc::Rc;

use gloo_timers::callback::Timeout;
use lightning::bitcoin::secp256k1::PublicKey;
use lightning::ln::msgs::SocketAddress;
use lightning::ln::peer_handler::APeerManager;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{BinaryType, CloseEvent, Event, MessageEvent, WebSocket};

use super::proxy_url::proxy_url;
use super::transport::{self, Connection, Descriptor};
use crate::{runtime, Error};

/// `poll_send` takes data while the socket's `bufferedAmount` is below this.
pub const SEND_BUFFER_LIMIT: u32 = 256 * 1024;

/// The largest frame we send: well below the proxy's default `--max-frame-size` (128 KiB).
const MAX_FRAME: usize = 64 * 1024;

/// How soon a `Pending` send is tried again.
const SEND_RETRY: Duration = Duration::from_millis(20);

#[derive(Default)]
struct Inner {
    /// The `open` event fired.
    opened: bool,
    /// The socket closed (or failed): why. Queued data is still read before end of stream.
    closed: Option<String>,
    /// An `error` event fired (the `close` event that follows has the code).
    errored: bool,
    /// A text frame arrived: a protocol error.
    text_frame: bool,
    /// Connecting took too long.
    timed_out: bool,
    /// Received bytes not yet read: whole frames, the front one from `offset`.
    frames: VecDeque<Vec<u8>>,
    offset: usize,
    /// The task to wake on any event.
    waker: Option<Waker>,
}

type Shared = Rc<RefCell<Inner>>;

/// Runs `f` on the shared state, then wakes the waiting task after releasing the borrow.
fn update(shared: &Shared, f: impl FnOnce(&mut Inner)) {
    let waker = {
        let mut s = shared.borrow_mut();
        f(&mut s);
        s.waker.take()
    };
    if let Some(w) = waker {
        w.wake();
    }
}

/// A `WebSocket` to the proxy as a transport [`Connection`].
pub struct WsConnection {
    ws: WebSocket,
    shared: Shared,
    remote: Option<SocketAddress>,
    /// Wakes a `Pending` send (dropping it cancels the timer).
    send_retry: Option<Timeout>,
    _on_open: Closure<dyn FnMut(Event)>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(Event)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl WsConnection {
    /// Opens a `WebSocket` to `url` (binary type `arraybuffer`) and installs its handlers; it
    /// is not open yet. An invalid URL is [`Error::ProxyUnreachable`].
    fn open(url: &str, remote: Option<SocketAddress>) -> Result<Self, Error> {
        let ws = WebSocket::new(url)
            .map_err(|e| Error::ProxyUnreachable(format!("{url}: {}", js_message(&e))))?;
        ws.set_binary_type(BinaryType::Arraybuffer);
        let shared = Shared::default();

        let s = Rc::clone(&shared);
        let on_open = Closure::<dyn FnMut(Event)>::new(move |_: Event| {
            update(&s, |i| i.opened = true);
        });
        let s = Rc::clone(&shared);
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            let data = ev.data();
            match data.dyn_into::<js_sys::ArrayBuffer>() {
                Ok(buf) => {
                    let bytes = js_sys::Uint8Array::new(&buf).to_vec();
                    if !bytes.is_empty() {
                        update(&s, |i| i.frames.push_back(bytes));
                    }
                }
                Err(_) => update(&s, |i| i.text_frame = true),
            }
        });
        let s = Rc::clone(&shared);
        let on_error = Closure::<dyn FnMut(Event)>::new(move |_: Event| {
            update(&s, |i| i.errored = true);
        });
        let s = Rc::clone(&shared);
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |ev: CloseEvent| {
            let reason = ev.reason();
            let why = if reason.is_empty() {
                format!("close code {}", ev.code())
            } else {
                format!("close code {}: {reason}", ev.code())
            };
            update(&s, |i| {
                if i.closed.is_none() {
                    i.closed = Some(why);
                }
            });
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        Ok(WsConnection {
            ws,
            shared,
            remote,
            send_retry: None,
            _on_open: on_open,
            _on_message: on_message,
            _on_error: on_error,
            _on_close: on_close,
        })
    }

    /// Waits for the `open` event; a failure or close first, or `timeout`, is
    /// [`Error::ProxyUnreachable`].
    async fn wait_open(&self, url: &str, timeout: Duration) -> Result<(), Error> {
        // setTimeout takes at most i32::MAX ms (longer fires at once).
        let s = Rc::clone(&self.shared);
        let _timer = Timeout::new(
            timeout.as_millis().min(i32::MAX as u128) as u32,
            move || update(&s, |i| i.timed_out = true),
        );
        core::future::poll_fn(|cx| {
            let mut i = self.shared.borrow_mut();
            if i.opened {
                return Poll::Ready(Ok(()));
            }
            if let Some(why) = &i.closed {
                let how = if i.errored { "failed" } else { "closed" };
                return Poll::Ready(Err(Error::ProxyUnreachable(format!(
                    "{url}: the WebSocket {how} before opening ({why})"
                ))));
            }
            if i.timed_out {
                return Poll::Ready(Err(Error::ProxyUnreachable(format!(
                    "{url}: the WebSocket did not open within {timeout:?}"
                ))));
            }
            i.waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

impl Connection for WsConnection {
    fn poll_recv(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let mut i = self.shared.borrow_mut();
        if i.text_frame {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the proxy sent a text frame",
            )));
        }
        if let Some(front) = i.frames.front() {
            let n = buf.len().min(front.len() - i.offset);
            buf[..n].copy_from_slice(&front[i.offset..i.offset + n]);
            let done = i.offset + n == front.len();
            if done {
                i.frames.pop_front();
                i.offset = 0;
            } else {
                i.offset += n;
            }
            return Poll::Ready(Ok(n));
        }
        if i.closed.is_some() {
            return Poll::Ready(Ok(0));
        }
        i.waker = Some(cx.waker().clone());
        Poll::Pending
    }

    fn poll_send(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        if self.shared.borrow().closed.is_some() || self.ws.ready_state() != WebSocket::OPEN {
            return Poll::Ready(Ok(0));
        }
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if self.ws.buffered_amount() < SEND_BUFFER_LIMIT {
            let n = data.len().min(MAX_FRAME);
            return match self.ws.send_with_u8_array(&data[..n]) {
                Ok(()) => Poll::Ready(Ok(n)),
                Err(e) => Poll::Ready(Err(io::Error::other(js_message(&e)))),
            };
        }
        // No "drained" event: look again after a moment (a message arriving wakes us too).
        let waker = cx.waker().clone();
        self.shared.borrow_mut().waker = Some(cx.waker().clone());
        self.send_retry = Some(Timeout::new(SEND_RETRY.as_millis() as u32, move || {
            waker.wake()
        }));
        Poll::Pending
    }

    fn close(&mut self) {
        self.send_retry = None;
        let _ = self.ws.close();
    }

    fn remote_address(&self) -> Option<SocketAddress> {
        self.remote.clone()
    }
}

impl Drop for WsConnection {
    fn drop(&mut self) {
        // The handlers' closures are freed with us: JavaScript must not call them afterwards.
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onerror(None);
        self.ws.set_onclose(None);
        let _ = self.ws.close();
    }
}

/// A JavaScript exception's message, or its debug form.
fn js_message(e: &wasm_bindgen::JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}

/// Connects to the peer `node_id` at `addr` through the WebSocket proxy at `proxy_base`
/// (`ws[s]://host[:port][/path]`) and waits, at most `timeout` in all, for the Noise handshake
/// and `init` exchange (the peer is then in `PeerManager::list_peers`). A proxy that cannot be
/// reached or refuses the target (the WebSocket does not open) is [`Error::ProxyUnreachable`];
/// a handshake that fails (a wrong node id, a closed port behind the proxy) is
/// [`Error::PeerUnreachable`]. The connection then runs in the background until either side
/// closes it.
pub async fn connect<PM>(
    peer_manager: PM,
    node_id: PublicKey,
    addr: &SocketAddress,
    proxy_base: &str,
    timeout: Duration,
) -> Result<(), Error>
where
    PM: Deref + Clone + 'static,
    PM::Target: APeerManager<Descriptor = Descriptor>,
{
    let start = runtime::now();
    let url = proxy_url(proxy_base, addr)?;
    let conn = WsConnection::open(&url, Some(addr.clone()))?;
    conn.wait_open(&url, timeout).await?;
    let desc = transport::spawn_outbound(peer_manager.clone(), node_id, conn)?;
    let left = timeout.saturating_sub(runtime::now().saturating_sub(start));
    transport::wait_connected(&peer_manager, node_id, &desc, left)
        .await
        .map_err(|e| match e {
            Error::PeerUnreachable(m) => Error::PeerUnreachable(format!("{addr}: {m}")),
            other => other,
        })
}
