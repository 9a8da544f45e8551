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
