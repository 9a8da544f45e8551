//! Prometheus metrics (text exposition format, via `prometheus-client`), served at `/metrics`.
//!
//! | metric | type | labels |
//! | --- | --- | --- |
//! | `wasm_ln_proxy_open_connections` | gauge | — relays currently open |
//! | `wasm_ln_proxy_connections_total` | counter | — relays accepted (upgraded) |
//! | `wasm_ln_proxy_refusals_total` | counter | `reason` (refusal code) |
//! | `wasm_ln_proxy_closes_total` | counter | `reason` (close reason) |
//! | `wasm_ln_proxy_bytes_relayed_total` | counter | `direction` = `client_to_target` / `target_to_client` |

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::reason::{Close, Refusal};

/// Label set with a `reason`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// The reason code.
    pub reason: &'static str,
}

/// Label set with a `direction`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DirectionLabel {
    /// `client_to_target` or `target_to_client`.
    pub direction: &'static str,
}

/// All proxy metrics.
pub struct Metrics {
    registry: Registry,
    /// Relays currently open.
    pub open_connections: Gauge,
    /// Relays accepted.
    pub connections: Counter,
    /// Refusals by reason.
    pub refusals: Family<ReasonLabel, Counter>,
    /// Relay ends by reason.
    pub closes: Family<ReasonLabel, Counter>,
    /// Bytes from the WebSocket client to the TCP target.
    pub bytes_up: Counter,
    /// Bytes from the TCP target to the WebSocket client.
    pub bytes_down: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric (all label values pre-initialised at zero).
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("wasm_ln_proxy");
        let open_connections = Gauge::default();
        let connections = Counter::default();
        let refusals = Family::<ReasonLabel, Counter>::default();
        let closes = Family::<ReasonLabel, Counter>::default();
        let bytes = Family::<DirectionLabel, Counter>::default();
        for r in Refusal::ALL {
            let _ = refusals.get_or_create(&ReasonLabel { reason: r.code() });
        }
        for c in Close::ALL {
            let _ = closes.get_or_create(&ReasonLabel { reason: c.reason() });
        }
        let bytes_up = bytes
            .get_or_create(&DirectionLabel {
                direction: "client_to_target",
            })
            .clone();
        let bytes_down = bytes
            .get_or_create(&DirectionLabel {
                direction: "target_to_client",
            })
            .clone();
        registry.register(
            "open_connections",
            "Relays currently open",
            open_connections.clone(),
        );
        registry.register(
            "connections",
            "Relays accepted (upgraded)",
            connections.clone(),
        );
        registry.register(
            "refusals",
            "Requests refused before upgrade, by reason",
            refusals.clone(),
        );
        registry.register("closes", "Relays ended, by reason", closes.clone());
        registry.register(
            "bytes_relayed",
            "Payload bytes relayed, by direction",
            bytes,
        );
        Self {
            registry,
            open_connections,
            connections,
            refusals,
            closes,
            bytes_up,
            bytes_down,
        }
    }

    /// Counts a refusal.
    pub fn refused(&self, r: Refusal) {
        self.refusals
            .get_or_create(&ReasonLabel { reason: r.code() })
            .inc();
    }

    /// Counts a relay end.
    pub fn closed(&self, c: Close) {
        self.closes
            .get_or_create(&ReasonLabel { reason: c.reason() })
            .inc();
    }

    /// Text exposition of all metrics.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
