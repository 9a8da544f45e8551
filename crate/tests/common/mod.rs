//! Shared by the native (`node.rs`) and browser (`web_node.rs`) node tests. It waits with the
//! crate's own `runtime` clock and sleeper, so it runs on either target.

#![allow(dead_code)] // each test binary uses its own subset

use std::time::Duration;

#[cfg(not(target_arch = "wasm32"))]
pub mod native;

use wasm_ln::{runtime, Node, PaymentDetails, WalletBalance};

/// How long any one step of a node test may take.
pub const WAIT: Duration = Duration::from_secs(90);

/// Polls `check` (syncing the node first) until it holds, for at most [`WAIT`].
pub async fn wait_until(node: &Node, what: &str, check: impl Fn(&Node) -> bool) {
    let deadline = runtime::now() + WAIT;
    loop {
        let _ = node.sync().await;
        if check(node) {
            return;
        }
        assert!(
            runtime::now() < deadline,
            "{what}: balances {:?}, channels {:?}",
            node.balances(),
            node.list_channels()
        );
        runtime::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until channel `channel_id` is usable (ready, its peer connected).
pub async fn wait_usable(node: &Node, what: &str, channel_id: &str) {
    wait_until(node, what, |n| {
        n.list_channels()
            .iter()
            .any(|c| c.channel_id == channel_id && c.is_usable)
    })
    .await;
}

/// What a restarted node must find again. Take it after `stop` has returned: before, a
/// commitment update still in flight could move the balance by an HTLC output's fee.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    channels: Vec<(String, u64)>,
    payments: Vec<PaymentDetails>,
    onchain: WalletBalance,
    lightning_msat: u64,
}

impl Snapshot {
    pub fn of(node: &Node) -> Self {
        Self {
            channels: node
                .list_channels()
                .into_iter()
                .map(|c| (c.channel_id, c.capacity_sat))
                .collect(),
            payments: node.list_payments(),
            onchain: node.onchain().balance(),
            lightning_msat: node.balances().lightning_msat,
        }
    }
}
