//! The chain: our Esplora chain source for LDK ([`esplora`]), its fee estimates and its
//! broadcaster (DESIGN.md §1, "Our own Esplora chain source").

pub mod esplora;

pub use esplora::{EsploraChainSource, SyncStats};
