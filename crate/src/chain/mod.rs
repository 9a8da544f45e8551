//! The chain: our Esplora chain source for LDK ([`esplora`]), its fee estimates and its
//! broadcaster (DESIGN.md §1, "Our own Esplora chain source"), and the BDK on-chain wallet
//! ([`wallet`]), which also pays for fee bumps of anchor channels ([`bump`]).

pub mod bump;
pub mod esplora;
pub mod wallet;

pub use esplora::{EsploraChainSource, SyncStats};
pub use wallet::{OnchainWallet, WalletBalance, WalletSyncKind};
