//! The byte-stream transport under LDK's [`PeerManager`], shared by the browser (a WebSocket
//! to the proxy) and native builds (TCP, `net::tcp`). `lightning-net-tokio` needs LDK's
//! `std`, so this is our own driver with the same contract.
//!
//! A [`Connection`] is a duplex byte stream with a non-blocking, waker-registering send and
//! receive. [`drive_outbound`] / [`drive_inbound`] register it with the `PeerManager` and
//! return the one future that runs it (or [`spawn_outbound`] / [`spawn_inbound`] start that
//! future with [`runtime::spawn_local`]). LDK's `PeerManager` without `std` is `!Sync`, so the
//! driver is `!Send` on every target: natively it needs a tokio `LocalSet`, as in the browser.
//!
//! **Re-entrancy.** LDK calls [`Descriptor::send_data`] and [`Descriptor::disconnect_socket`]
//! from inside `read_event`, `process_events`, `timer_tick_occurred`, ... The descriptor only
//! touches its own small state under a `Mutex` that is never held while calling into the
//! `PeerManager` nor across an `.await`, and wakes the driver only after releasing it; so a
//! re-entrant call never finds the lock taken (a std `Mutex` re-entered panics on wasm32).
//!
//! **Backpressure.** Each connection buffers at most [`OUTBOUND_BUFFER_LIMIT`] bytes that the
//! stream has not yet taken. `send_data` accepts what fits and returns that count; LDK keeps
//! the rest in its own queue, and once the driver has flushed half the buffer to the stream it calls
//! `write_buffer_space_avail` so LDK writes more. `send_data(_, false)` pauses reading (LDK does
//! that when its own queue for the peer is too long); the driver stops calling `read_event`
//! until a later `send_data(_, true)`.
//!
//! [`PeerManager`]: lightning::ln::peer_handler::PeerManager

use core::future::Future;
use core::hash::{Hash, Hasher};
use core::ops::Deref;
use core::sync::atomic::{AtomicU64, Ordering};
use core::task::{Context, Poll, Waker};
use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use lightning::bitcoin::secp256k1::PublicKey;
use lightning::ln::msgs::SocketAddress;
use lightning::ln::peer_handler::{APeerManager, SocketDescriptor};

use crate::runtime;
use crate::Error;

/// Bytes a connection buffers beyond what its stream has taken; more stays in LDK's queue.
pub const OUTBOUND_BUFFER_LIMIT: usize = 64 * 1024;

/// Bytes read from the stream per `read_event` call.
const READ_CHUNK: usize = 16 * 1024;

/// A duplex byte stream: TCP natively, a WebSocket to the proxy in the browser. The driver owns
/// it alone. Its methods may be called while the connection's descriptor state is locked, so
/// they must not call back into the descriptor or the `PeerManager` (JavaScript's
/// `WebSocket.send` and event callbacks never run Rust code synchronously, so that holds).
pub trait Connection: 'static {
    /// Reads into `buf`: `Ready(Ok(n))` with `n > 0` bytes read, `Ready(Ok(0))` at end of
    /// stream, `Ready(Err(_))` on failure, or `Pending` with `cx`'s waker registered.
    fn poll_recv(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;
    /// Writes a prefix of `data` without blocking: `Ready(Ok(n))` with `n > 0` bytes taken,
    /// `Ready(Ok(0))` or `Ready(Err(_))` if the stream is closed, or `Pending` when it has no
    /// room, with `cx`'s waker registered for when it does.
    fn poll_send(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>>;
    /// Closes the stream. Called once, when the driver stops; dropping must also close it.
    fn close(&mut self) {}
    /// The peer's address, as LDK reports it in `PeerDetails` (`None` if unknown).
    fn remote_address(&self) -> Option<SocketAddress> {
        None
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

#[derive(Default)]
struct Shared {
    /// Bytes LDK gave us that the stream has not taken yet.
    out: VecDeque<u8>,
    /// LDK asked us not to call `read_event` (its queue for this peer is long).
    read_paused: bool,
    /// A `send_data` was short: call `write_buffer_space_avail` once there is room.
    want_write_avail: bool,
    /// LDK called `disconnect_socket`: close without `socket_disconnected`.
    ldk_disconnect: bool,
    /// We (not LDK) want the connection closed: close, then `socket_disconnected`.
    our_disconnect: bool,
    /// The driver has stopped; writes are refused.
    closed: bool,
    /// The driver's waker, to run it after a change.
    waker: Option<Waker>,
}

/// LDK's handle to one connection: cheap to clone, equal and hashed by a process-unique id.
#[derive(Clone)]
pub struct Descriptor {
    id: u64,
    shared: Arc<Mutex<Shared>>,
}

impl Descriptor {
    fn new() -> Self {
        Descriptor {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            shared: Arc::new(Mutex::new(Shared::default())),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // Nothing panics while holding this lock; a poisoned one still holds consistent state.
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the state and then wakes the driver, after the lock is released.
    fn update<R>(&self, f: impl FnOnce(&mut Shared) -> R) -> R {
        let (r, waker) = {
            let mut s = self.lock();
            let r = f(&mut s);
            (r, s.waker.take())
        };
        if let Some(w) = waker {
            w.wake();
        }
        r
    }

    /// This connection's id (unique in the process).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Whether the driver has stopped (the stream is closed).
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Closes the connection from our side; the driver then tells the `PeerManager`
    /// (`socket_disconnected`). To disconnect a peer by node id, prefer
    /// `PeerManager::disconnect_by_node_id`.
    pub fn close(&self) {
        self.update(|s| s.our_disconnect = true);
    }
}

impl PartialEq for Descriptor {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}
impl Eq for Descriptor {}
impl Hash for Descriptor {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id.hash(state)
    }
}
impl core::fmt::Debug for Descriptor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Descriptor({})", self.id)
    }
}

impl SocketDescriptor for Descriptor {
    fn send_data(&mut self, data: &[u8], continue_read: bool) -> usize {
        self.update(|s| {
            if s.closed || s.ldk_disconnect || s.our_disconnect {
                return 0;
            }
            s.read_paused = !continue_read;
            let n = data
                .len()
                .min(OUTBOUND_BUFFER_LIMIT.saturating_sub(s.out.len()));
            s.out.extend(&data[..n]);
            if n < data.len() {
                s.want_write_avail = true;
            }
            n
        })
    }

    fn disconnect_socket(&mut self) {
        self.update(|s| s.ldk_disconnect = true);
    }
}

/// What woke the driver.
enum Wake {
    /// `n` bytes were read into the buffer.
    Read(usize),
    /// Buffer room freed after a short `send_data`.
    WriteAvail,
    /// The stream ended or failed, or we closed it: tell LDK.
    Gone,
    /// LDK asked for the disconnect: do not tell it.
    LdkClosed,
}

/// Flushes what the stream takes now and reports the next thing to do, or `Pending`.
fn poll_once<C: Connection>(
    desc: &Descriptor,
    conn: &mut C,
    cx: &mut Context<'_>,
    buf: &mut [u8],
) -> Poll<Wake> {
    let mut s = desc.lock();
    s.waker = Some(cx.waker().clone());
    while !s.out.is_empty() {
        let (front, _) = s.out.as_slices();
        match conn.poll_send(cx, front) {
            Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Poll::Ready(Wake::Gone),
            Poll::Ready(Ok(n)) => {
                let n = n.min(s.out.len());
                s.out.drain(..n);
            }
            Poll::Pending => break,
        }
    }
    if s.ldk_disconnect {
        return Poll::Ready(Wake::LdkClosed);
    }
    if s.our_disconnect {
        return Poll::Ready(Wake::Gone);
    }
    if s.want_write_avail && s.out.len() <= OUTBOUND_BUFFER_LIMIT / 2 {
        s.want_write_avail = false;
        return Poll::Ready(Wake::WriteAvail);
    }
    if !s.read_paused {
        match conn.poll_recv(cx, buf) {
            Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Poll::Ready(Wake::Gone),
            Poll::Ready(Ok(n)) => return Poll::Ready(Wake::Read(n)),
            Poll::Pending => {}
        }
    }
    Poll::Pending
}

/// Yields to the event loop once, so one busy peer cannot starve the others.
async fn yield_now() {
    let mut yielded = false;
    core::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

/// Runs one registered connection until it closes; `socket_disconnected` is called exactly
/// once unless LDK itself dropped the connection (then it must not be).
async fn run<PM, C>(peer_manager: PM, mut desc: Descriptor, mut conn: C)
where
    PM: Deref,
    PM::Target: APeerManager<Descriptor = Descriptor>,
    C: Connection,
{
    let mut buf = vec![0u8; READ_CHUNK];
    let tell_ldk = loop {
        let wake = core::future::poll_fn(|cx| poll_once(&desc, &mut conn, cx, &mut buf)).await;
        // No lock of ours is held from here on: LDK may call back into `desc`.
        match wake {
            Wake::Read(n) => {
                if peer_manager
                    .as_ref()
                    .read_event(&mut desc, &buf[..n])
                    .is_err()
                {
                    // LDK has already forgotten the peer.
                    break false;
                }
            }
            Wake::WriteAvail => {
                if peer_manager
                    .as_ref()
                    .write_buffer_space_avail(&mut desc)
                    .is_err()
                {
                    break false;
                }
            }
            Wake::Gone => break true,
            Wake::LdkClosed => break false,
        }
        // `read_event` never writes: our handshake act three and `init`, pongs and replies
        // wait in LDK's queue until `process_events`. The background processor calls it only
        // every 10 s when idle, so without this a peer that waits for our `init` stalls
        // `connect` (tests `connect_to_a_quiet_peer_returns_at_once`).
        peer_manager.as_ref().process_events();
        yield_now().await;
    };
    desc.update(|s| {
        s.closed = true;
        s.out = VecDeque::new();
    });
    conn.close();
    drop(conn);
    if tell_ldk {
        peer_manager.as_ref().socket_disconnected(&desc);
    }
    peer_manager.as_ref().process_events();
}

/// Registers an outbound connection to `their_node_id` with the `PeerManager`, queues the
/// Noise act one, and returns its descriptor and the future that drives it. The future must be
/// run (polled to completion) for the connection to make progress.
pub fn drive_outbound<PM, C>(
    peer_manager: PM,
    their_node_id: PublicKey,
    conn: C,
) -> Result<(Descriptor, impl Future<Output = ()>), Error>
where
    PM: Deref + 'static,
    PM::Target: APeerManager<Descriptor = Descriptor>,
    C: Connection,
{
    let mut desc = Descriptor::new();
    let act_one = peer_manager
        .as_ref()
        .new_outbound_connection(their_node_id, desc.clone(), conn.remote_address())
        .map_err(|_| Error::PeerUnreachable(format!("{their_node_id}: refused by LDK")))?;
    if desc.send_data(&act_one, true) != act_one.len() {
        peer_manager.as_ref().socket_disconnected(&desc);
        return Err(Error::Internal(
            "the handshake does not fit the buffer".into(),
        ));
    }
    Ok((desc.clone(), run(peer_manager, desc, conn)))
}

/// Registers an inbound connection with the `PeerManager` and returns its descriptor and the
/// future that drives it.
pub fn drive_inbound<PM, C>(
    peer_manager: PM,
    conn: C,
) -> Result<(Descriptor, impl Future<Output = ()>), Error>
where
    PM: Deref + 'static,
    PM::Target: APeerManager<Descriptor = Descriptor>,
    C: Connection,
{
    let desc = Descriptor::new();
    peer_manager
        .as_ref()
        .new_inbound_connection(desc.clone(), conn.remote_address())
        .map_err(|_| Error::Internal("inbound connection refused by LDK".into()))?;
    Ok((desc.clone(), run(peer_manager, desc, conn)))
}

/// [`drive_outbound`], run in the background with [`runtime::spawn_local`].
pub fn spawn_outbound<PM, C>(
    peer_manager: PM,
    their_node_id: PublicKey,
    conn: C,
) -> Result<Descriptor, Error>
where
    PM: Deref + 'static,
    PM::Target: APeerManager<Descriptor = Descriptor>,
    C: Connection,
{
    let (desc, fut) = drive_outbound(peer_manager, their_node_id, conn)?;
    runtime::spawn_local(fut);
    Ok(desc)
}

/// [`drive_inbound`], run in the background with [`runtime::spawn_local`].
pub fn spawn_inbound<PM, C>(peer_manager: PM, conn: C) -> Result<Descriptor, Error>
where
    PM: Deref + 'static,
    PM::Target: APeerManager<Descriptor = Descriptor>,
    C: Connection,
{
    let (desc, fut) = drive_inbound(peer_manager, conn)?;
    runtime::spawn_local(fut);
    Ok(desc)
}

/// Waits until the outbound connection `desc` to `their_node_id` has finished its handshake
/// and `init` exchange (the peer is listed by the `PeerManager`), the connection closed, or
/// `timeout` passed (then it is closed). Closed or timed out is [`Error::PeerUnreachable`].
pub async fn wait_connected<PM>(
    peer_manager: &PM,
    their_node_id: PublicKey,
    desc: &Descriptor,
    timeout: core::time::Duration,
) -> Result<(), Error>
where
    PM: Deref,
    PM::Target: APeerManager<Descriptor = Descriptor>,
{
    let start = runtime::now();
    loop {
        if peer_manager
            .as_ref()
            .peer_by_node_id(&their_node_id)
            .is_some()
        {
            return Ok(());
        }
        if desc.is_closed() {
            return Err(Error::PeerUnreachable(format!(
                "{their_node_id}: the connection closed during the handshake"
            )));
        }
        if runtime::now().saturating_sub(start) >= timeout {
            desc.close();
            return Err(Error::PeerUnreachable(format!(
                "{their_node_id}: no handshake within {timeout:?}"
            )));
        }
        runtime::sleep(core::time::Duration::from_millis(10)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    // The key's hash is its immutable id, not the state behind its mutex.
    #[allow(clippy::mutable_key_type)]
    fn descriptors_are_equal_and_hashed_by_id() {
        let a = Descriptor::new();
        let b = Descriptor::new();
        assert_ne!(a.id(), b.id());
        assert_eq!(a, a.clone());
        assert_ne!(a, b);
        let set: HashSet<_> = [a.clone(), a.clone(), b].into_iter().collect();
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn send_data_is_bounded_and_tracks_pause_and_disconnect() {
        let mut d = Descriptor::new();
        let big = vec![7u8; OUTBOUND_BUFFER_LIMIT + 10];
        assert_eq!(d.send_data(&big, true), OUTBOUND_BUFFER_LIMIT);
        assert!(d.lock().want_write_avail);
        assert_eq!(d.send_data(&[1, 2, 3], false), 0);
        assert!(d.lock().read_paused);
        assert_eq!(d.send_data(&[], true), 0);
        assert!(!d.lock().read_paused);
        d.disconnect_socket();
        d.lock().out.clear();
        assert_eq!(
            d.send_data(&[1], true),
            0,
            "refused after disconnect_socket"
        );
        assert!(!d.is_closed(), "closed only once the driver stops");
    }
}
