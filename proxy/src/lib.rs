//! `wasm-ln-proxy`: a WebSocket-to-TCP proxy for browser Lightning nodes.
//!
//! `GET /v1/<host>/<port>` upgrades to a WebSocket; binary frames are relayed to and from a TCP
//! connection to the target. The proxy faces the open internet, so it is secure by default:
//! it resolves the target itself, checks every resolved address against [`policy`], and dials
//! exactly the checked addresses (no second lookup, no DNS rebinding); only ports on the
//! allowlist are dialled; connections are limited in number, time and buffer size.
//!
//! Modules: [`target`] (URL path and host encoding, incl. IPv6 forms), [`policy`] (address
//! policy, pure), [`limits`], [`relay`] (the byte pump with backpressure), [`reason`] (refusal
//! and close codes), [`metrics`], [`config`] (flags and environment), [`server`] (HTTP front).
//! See proxy/README.md for usage, deployment behind TLS and scaling.

#![deny(missing_docs)]

pub mod config;
pub mod limits;
pub mod metrics;
pub mod policy;
pub mod reason;
pub mod relay;
pub mod server;
pub mod target;

pub use config::Config;
pub use server::{start, Proxy};
