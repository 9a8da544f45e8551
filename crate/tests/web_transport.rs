//! Browser end-to-end test of the WebSocket transport: our LDK `PeerManager`, in headless
//! Chromium, reaches a real ldk-node (`tests/peer`) through `wasm-ln-proxy`.
//!
//! Built only with the `e2e` feature, by `pkg-scripts/test.sh` (suite
//! `test-wasm-ln-chromium-e2e`), which starts regtest-esplora, the peer and the proxy and
//! passes their addresses at compile time:
//! - `WASM_LN_TEST_PROXY_URL`: the proxy, `ws://127.0.0.1:PORT` (`--allow-private
//!   --allow-port <the peer's port>`);
//! - `WASM_LN_TEST_PEER`: the peer, `node_id@127.0.0.1:port`;
//! - `WASM_LN_TEST_DEAD_URL`: `ws://127.0.0.1:PORT` with nothing listening;
//! - `WASM_LN_TEST_QUIET_PEER`: `node_id@127.0.0.1:port` of `tests/common/quiet_peer.mjs`,
//!   also on the proxy's `--allow-port` list.
//!
//! A missing variable is a compile error, so the test cannot pass without running.
#![cfg(target_arch = "wasm32")]

use std::rc::Rc;
use std::time::Duration;

use lightning::bitcoin::secp256k1::PublicKey;
use lightning::ln::msgs::SocketAddress;
use lightning::ln::peer_handler::{
    ErroringMessageHandler, IgnoringMessageHandler, MessageHandler, PeerManager,
};
use lightning::sign::{KeysManager, NodeSigner, Recipient};
use lightning::util::logger::{Level, Logger, Record};
use wasm_bindgen_test::*;
use wasm_ln::net::transport::Descriptor;
use wasm_ln::net::{parse_peer, websocket};
use wasm_ln::{runtime, Error};

wasm_bindgen_test_configure!(run_in_browser);

const PROXY_URL: &str = env!("WASM_LN_TEST_PROXY_URL");
const PEER: &str = env!("WASM_LN_TEST_PEER");
const DEAD_URL: &str = env!("WASM_LN_TEST_DEAD_URL");
const QUIET_PEER: &str = env!("WASM_LN_TEST_QUIET_PEER");

const TIMEOUT: Duration = Duration::from_secs(20);

struct Log;
impl Logger for Log {
    fn log(&self, r: Record) {
        if r.level >= Level::Warn {
            console_log!("[ldk] {:?} {}", r.level, r.args);
        }
    }
}

type Pm = PeerManager<
    Descriptor,
    Rc<ErroringMessageHandler>,
    Rc<IgnoringMessageHandler>,
    Rc<IgnoringMessageHandler>,
    Rc<Log>,
    Rc<IgnoringMessageHandler>,
    Rc<KeysManager>,
    Rc<IgnoringMessageHandler>,
>;

fn peer_manager(seed: u8) -> (Rc<Pm>, PublicKey) {
    let now = runtime::now();
    let keys = Rc::new(KeysManager::new(
        &[seed; 32],
        now.as_secs(),
        now.subsec_nanos(),
        true,
    ));
    let id = keys.get_node_id(Recipient::Node).expect("node id");
    let ignoring = Rc::new(IgnoringMessageHandler {});
    let handlers = MessageHandler {
        chan_handler: Rc::new(ErroringMessageHandler::new()),
        route_handler: Rc::clone(&ignoring),
        onion_message_handler: Rc::clone(&ignoring),
        custom_message_handler: Rc::clone(&ignoring),
        send_only_message_handler: ignoring,
    };
    let pm = Rc::new(PeerManager::new(
        handlers,
        now.as_secs() as u32,
        &[seed ^ 0x5a; 32],
        Rc::new(Log),
        keys,
    ));
    (pm, id)
}

fn peer() -> (PublicKey, SocketAddress) {
    parse_peer(PEER).expect("WASM_LN_TEST_PEER is node_id@host:port")
}

fn peers(pm: &Pm) -> Vec<PublicKey> {
    pm.list_peers()
        .into_iter()
        .map(|p| p.counterparty_node_id)
        .collect()
}

#[wasm_bindgen_test]
async fn connects_to_a_real_ldk_node_through_the_proxy() {
    let (pm, _) = peer_manager(1);
    let (id, addr) = peer();
    websocket::connect(Rc::clone(&pm), id, &addr, PROXY_URL, TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("connect to {PEER} via {PROXY_URL}: {e}"));
    assert_eq!(peers(&pm), vec![id]);
    let details = pm.peer_by_node_id(&id).expect("peer details");
    assert_eq!(details.socket_address, Some(addr));
    // Still connected a moment later (pings and the peer's own messages are handled).
    runtime::sleep(Duration::from_secs(2)).await;
    assert_eq!(peers(&pm), vec![id]);
    pm.disconnect_by_node_id(id);
    assert!(peers(&pm).is_empty());
}

#[wasm_bindgen_test]
async fn a_port_the_proxy_refuses_is_proxy_unreachable() {
    let (pm, _) = peer_manager(2);
    let (id, addr) = peer();
    let SocketAddress::TcpIpV4 { addr: ip, port } = addr else {
        panic!("WASM_LN_TEST_PEER must be an IPv4 address");
    };
    // Not on the proxy's --allow-port list: it answers 403 instead of upgrading.
    let refused = SocketAddress::TcpIpV4 {
        addr: ip,
        port: if port == 9 { 10 } else { 9 },
    };
    let err = websocket::connect(pm, id, &refused, PROXY_URL, TIMEOUT)
        .await
        .expect_err("the proxy must refuse the port");
    assert!(matches!(err, Error::ProxyUnreachable(_)), "{err}");
}

#[wasm_bindgen_test]
async fn a_proxy_url_with_nothing_listening_is_proxy_unreachable() {
    let (pm, _) = peer_manager(3);
    let (id, addr) = peer();
    let err = websocket::connect(pm, id, &addr, DEAD_URL, TIMEOUT)
        .await
        .expect_err("nothing listens there");
    assert!(matches!(err, Error::ProxyUnreachable(_)), "{err}");
}

#[wasm_bindgen_test]
async fn a_wrong_node_id_is_peer_unreachable() {
    let (pm, _) = peer_manager(4);
    let (_, addr) = peer();
    let (_, wrong) = peer_manager(5);
    let err = websocket::connect(Rc::clone(&pm), wrong, &addr, PROXY_URL, TIMEOUT)
        .await
        .expect_err("the handshake must fail");
    assert!(matches!(err, Error::PeerUnreachable(_)), "{err}");
    assert!(peers(&pm).is_empty());
}

/// #14 item 13: `connect` to a peer written apart from LDK (`tests/common/quiet_peer.mjs`)
/// that waits for our `init`, answers it, then sends nothing, returns once the `init`s are
/// exchanged, not when the peer gives up (15 s) or the connect timeout passes.
#[wasm_bindgen_test]
async fn connect_to_a_quiet_peer_returns_at_once() {
    let (pm, _) = peer_manager(6);
    let (id, addr) = parse_peer(QUIET_PEER).expect("WASM_LN_TEST_QUIET_PEER is node_id@host:port");
    let start = runtime::now();
    websocket::connect(
        Rc::clone(&pm),
        id,
        &addr,
        PROXY_URL,
        Duration::from_secs(10),
    )
    .await
    .unwrap_or_else(|e| panic!("connect to {QUIET_PEER} via {PROXY_URL}: {e}"));
    let took = runtime::now().saturating_sub(start);
    // A bound against a stall until the peer gives up, not a benchmark.
    assert!(took < Duration::from_secs(2), "connect took {took:?}");
    assert_eq!(peers(&pm), vec![id]);
    pm.disconnect_by_node_id(id);
}
