//! # wasm-ln
//!
//! A self-custodial Bitcoin Lightning node that runs inside a web page, a browser extension
//! or a worker. The protocol is [LDK](https://lightningdevkit.org) built without `std`, the
//! on-chain wallet is BDK; peers are reached through a WebSocket-to-TCP proxy, the chain
//! through an Esplora REST API, and state is kept in IndexedDB. Everything outside
//! [`wasm`](crate#wasm), the browser store, the WebSocket transport and [`runtime`] builds and
//! is tested natively.
//!
//! ```
//! use wasm_ln::{Error, Network};
//!
//! let network: Network = "regtest".parse()?;
//! assert_eq!(network.as_str(), "regtest");
//! assert_eq!(network.to_bitcoin(), wasm_ln::bitcoin::Network::Regtest);
//!
//! let err = "mainnet-ish".parse::<Network>().unwrap_err();
//! assert_eq!(err.code(), "INVALID_CONFIG");
//! # Ok::<(), Error>(())
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod builder;
pub mod chain;
pub mod config;
pub mod error;
pub mod event;
mod event_handler;
pub mod io;
pub mod keys;
pub mod logger;
pub mod net;
mod node;
pub mod payment;
pub mod peer_store;
pub mod runtime;
pub mod seed;
mod signer;
pub mod types;

#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use builder::{BuildError, Builder};
pub use chain::wallet::WalletBalance;
pub use config::Network;
pub use error::Error;
pub use event::Event;
/// The one `bitcoin` (and `secp256k1`) of the dependency tree: LDK's re-export.
pub use lightning::bitcoin;
pub use logger::LogLevel;
pub use node::{
    Balances, ChannelDetails, ClaimableBalance, Node, NodeStatus, PeerDetails, CONNECT_TIMEOUT,
};
pub use payment::{PaymentDetails, PaymentDirection, PaymentKind, PaymentStatus};

/// This crate's version, as shown by `getInfo().version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
