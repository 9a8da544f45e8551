//! Reaching Lightning peers: peer address parsing, the proxy URL scheme shared with
//! `wasm-ln-proxy` (and, to come, the WebSocket transport for the browser and TCP for native
//! tests).

pub mod address;
pub mod proxy_url;

pub use address::{parse_node_id, parse_peer, parse_socket_address};
