//! A BOLT 8 responder that speaks only when spoken to (#14 item 13), for `connect` tests.
//!
//! An LDK `PeerManager` driven by hand on a blocking socket in its own thread. LDK writes only
//! from `process_events` (and `write_buffer_space_avail`), so it is called exactly twice: after
//! act one, to send act two, and after our `init` has arrived, to answer with its own `init`.
//! Then it only reads: no pings (no `timer_tick_occurred`), no pongs, nothing. Unlike ldk-node
//! and Core Lightning, which send their `init` right after act three, it waits for ours, as
//! some implementations do.
#![allow(dead_code)] // each test binary uses its own subset

use std::io::Read;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use lightning::bitcoin::secp256k1::PublicKey;
use lightning::ln::msgs::SocketAddress;
use lightning::ln::peer_handler::{
    ErroringMessageHandler, IgnoringMessageHandler, MessageHandler, PeerManager, SocketDescriptor,
};
use lightning::sign::{KeysManager, NodeSigner, Recipient};
use lightning::util::logger::{Level, Logger, Record};

/// The peer's end of its one connection: writes go straight to the blocking socket.
#[derive(Clone)]
struct Desc(u64, Arc<TcpStream>);

impl PartialEq for Desc {
    fn eq(&self, o: &Self) -> bool {
        self.0 == o.0
    }
}
impl Eq for Desc {}
impl std::hash::Hash for Desc {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.0.hash(h)
    }
}
impl SocketDescriptor for Desc {
    fn send_data(&mut self, data: &[u8], _continue_read: bool) -> usize {
        match std::io::Write::write_all(&mut &*self.1, data) {
            Ok(()) => data.len(),
            Err(_) => 0,
        }
    }
    fn disconnect_socket(&mut self) {
        let _ = self.1.shutdown(Shutdown::Both);
    }
}

struct Log;
impl Logger for Log {
    fn log(&self, r: Record) {
        if r.level >= Level::Warn {
            eprintln!("[quiet peer] {:?} {}", r.level, r.args);
        }
    }
}

type Pm = PeerManager<
    Desc,
    Rc<ErroringMessageHandler>,
    Rc<IgnoringMessageHandler>,
    Rc<IgnoringMessageHandler>,
    Rc<Log>,
    Rc<IgnoringMessageHandler>,
    Rc<KeysManager>,
    Rc<IgnoringMessageHandler>,
>;

/// A running quiet peer.
pub struct QuietPeer {
    pub node_id: PublicKey,
    pub addr: SocketAddress,
    /// Gets `()` once our `init` has arrived (and the peer has answered it).
    pub answered: mpsc::Receiver<()>,
}

impl QuietPeer {
    /// `node_id@127.0.0.1:port`.
    pub fn uri(&self) -> String {
        format!("{}@{}", self.node_id, self.addr)
    }
}

/// Starts a quiet peer on a loopback port. It serves one connection, and closes it after
/// `hold` (as a peer that gives up on a silent counterparty would) or when we close it.
pub fn start(seed: u8, hold: Duration) -> QuietPeer {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (id_tx, id_rx) = mpsc::channel();
    let (answered_tx, answered) = mpsc::channel();
    std::thread::spawn(move || {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock");
        let keys = Rc::new(KeysManager::new(
            &[seed; 32],
            now.as_secs(),
            now.subsec_nanos(),
            true,
        ));
        let ignoring = Rc::new(IgnoringMessageHandler {});
        let pm: Pm = PeerManager::new(
            MessageHandler {
                chan_handler: Rc::new(ErroringMessageHandler::new()),
                route_handler: Rc::clone(&ignoring),
                onion_message_handler: Rc::clone(&ignoring),
                custom_message_handler: Rc::clone(&ignoring),
                send_only_message_handler: ignoring,
            },
            now.as_secs() as u32,
            &[seed ^ 0x5a; 32],
            Rc::new(Log),
            Rc::clone(&keys),
        );
        let _ = id_tx.send(keys.get_node_id(Recipient::Node).expect("node id"));
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        static IDS: AtomicU64 = AtomicU64::new(0);
        let stream = Arc::new(stream);
        let mut desc = Desc(IDS.fetch_add(1, Ordering::Relaxed), Arc::clone(&stream));
        if pm.new_inbound_connection(desc.clone(), None).is_err() {
            return;
        }
        let deadline = Instant::now() + hold;
        let mut buf = [0u8; 4096];
        let mut sent_act_two = false;
        let mut sent_init = false;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let _ = stream.set_read_timeout(Some(left.max(Duration::from_millis(1))));
            let n = match (&*stream).read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if pm.read_event(&mut desc, &buf[..n]).is_err() {
                break;
            }
            if !sent_act_two {
                // Act one is in: send act two (nothing else is queued yet).
                pm.process_events();
                sent_act_two = true;
            } else if !sent_init && !pm.list_peers().is_empty() {
                // Our `init` is in: answer it, then say nothing more.
                pm.process_events();
                sent_init = true;
                let _ = answered_tx.send(());
            }
        }
        let _ = stream.shutdown(Shutdown::Both);
    });
    let node_id = id_rx.recv().expect("the quiet peer's node id");
    QuietPeer {
        node_id,
        addr: SocketAddress::TcpIpV4 {
            addr: [127, 0, 0, 1],
            port,
        },
        answered,
    }
}
