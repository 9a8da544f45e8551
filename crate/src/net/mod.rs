//! Reaching Lightning peers: peer address parsing, the proxy URL scheme shared with
//! `wasm-ln-proxy`, the byte-stream driver under LDK's `PeerManager` ([`transport`]) and its
//! native TCP streams (`tcp`) and the browser's WebSocket streams to the proxy (`websocket`).

pub mod address;
pub mod proxy_url;
#[cfg(not(target_arch = "wasm32"))]
pub mod tcp;
pub mod transport;
#[cfg(target_arch = "wasm32")]
pub mod websocket;

pub use address::{parse_node_id, parse_peer, parse_socket_address};

use core::time::Duration;
use std::sync::Arc;

use lightning::bitcoin::secp256k1::PublicKey;
use lightning::ln::msgs::SocketAddress;

/// Connects the node's `PeerManager` to `node_id` at `addr` and waits for the handshake: in
/// the browser through the WebSocket proxy at `proxy_url` (required there), natively over TCP
/// (`proxy_url` is not used).
pub async fn connect<PM>(
    peer_manager: Arc<PM>,
    node_id: PublicKey,
    addr: &SocketAddress,
    proxy_url: Option<&str>,
    timeout: Duration,
) -> Result<(), crate::Error>
where
    PM: lightning::ln::peer_handler::APeerManager<Descriptor = transport::Descriptor> + 'static,
{
    #[cfg(target_arch = "wasm32")]
    {
        let proxy = proxy_url.ok_or_else(|| {
            crate::Error::InvalidConfig(
                "a proxy URL is needed to reach peers from a browser".into(),
            )
        })?;
        websocket::connect(peer_manager, node_id, addr, proxy, timeout).await
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = proxy_url;
        tcp::connect(peer_manager, node_id, addr, timeout).await
    }
}
