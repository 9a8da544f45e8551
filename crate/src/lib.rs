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
//!
//! ## Channels for a node that is offline most of the time
//!
//! A browser node cannot be dialled and is closed most of the time, so its channels are set
//! for that:
//! - a counterparty that force-closes waits [`DEFAULT_OUR_TO_SELF_DELAY`] blocks (a week,
//!   [`Builder::set_our_to_self_delay`], 144 to [`MAX_TO_SELF_DELAY`]) for its own funds: the
//!   longest the node may stay closed and still punish a revoked commitment; a peer that asks
//!   us to wait more than [`MAX_TO_SELF_DELAY`] blocks for ours is refused;
//! - our invoices ask for a final CLTV delta of
//!   [`payment::bolt11::FINAL_CLTV_EXPIRY_DELTA`] (144) blocks, the time we have to come back
//!   and claim a payment on-chain;
//! - a peer that opened a channel to us may have all of it in flight towards us (LDK's 10 %
//!   default guards routing nodes; this one routes nothing);
//! - channels are private: we announce none and refuse a peer's public one; inbound channels
//!   are accepted by hand, zero-conf ones only from the configured LSP (whose channels may
//!   also deliver a payment short by the JIT fee it quoted, `liquidity`), and the peer of every
//!   new channel is remembered (with the address we reached it at), so the node dials it
//!   again after a restart: nobody can dial a browser;
//! - anchor channels by default ([`Builder::set_anchor_channels`]): a commitment's fee is paid
//!   from the wallet when it is broadcast ([`chain::bump`]), so the wallet keeps
//!   [`chain::bump::ANCHOR_RESERVE_PER_CHANNEL_SAT`] on-chain per anchor channel; opens and
//!   sends that would dig into it fail with `INSUFFICIENT_FUNDS` naming the reserve, and
//!   `send_all` leaves it. An inbound anchor channel is accepted only with its reserve in
//!   the wallet, the LSP's too (the peer then falls back to a legacy channel: a coinless
//!   wallet's first JIT channel is legacy);
//! - what is ours and unconfirmed (wallet transactions, channel fundings, LDK's claims) is
//!   broadcast again on start and on each new block.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod builder;
pub mod chain;
pub mod config;
pub mod error;
pub mod event;
mod event_handler;
pub mod graph;
pub mod io;
pub mod keys;
pub mod liquidity;
pub mod logger;
pub mod message;
pub mod net;
mod node;
pub mod payment;
pub mod peer_store;
pub mod runtime;
pub mod seed;
pub mod signer;
mod sweep;
pub mod types;

#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use builder::{
    BuildError, Builder, DEFAULT_OUR_TO_SELF_DELAY, MAX_TO_SELF_DELAY, MIN_OUR_TO_SELF_DELAY,
};
pub use chain::wallet::WalletBalance;
pub use config::Network;
pub use error::Error;
pub use event::{Event, EventId, PendingEvent};
pub use graph::{GossipSource, GraphInfo};
/// The one `bitcoin` (and `secp256k1`) of the dependency tree: LDK's re-export.
pub use lightning::bitcoin;
pub use logger::LogLevel;
pub use message::MessageVerification;
pub use node::{
    Balances, ChannelDetails, ClaimableBalance, Node, NodeStatus, PeerDetails, CONNECT_TIMEOUT,
};
pub use payment::{PaymentDetails, PaymentDirection, PaymentKind, PaymentStatus};

/// This crate's version, as shown by `getInfo().version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
