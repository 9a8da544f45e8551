//! Keysend: paying a node id directly, the preimage carried in the onion.

use std::sync::Arc;

use lightning::ln::channelmanager::RecipientOnionFields;
use lightning::ln::channelmanager::{PaymentId, Retry};
use lightning::routing::router::{PaymentParameters, RouteParameters};
use lightning::sign::EntropySource;
use lightning::types::payment::{PaymentHash, PaymentPreimage};

use crate::bitcoin::hashes::{sha256, Hash};
use crate::bitcoin::hex::DisplayHex;
use crate::node::NodeInner;
use crate::payment::bolt11::{send_failure, send_recorded, PAYMENT_RETRY_ATTEMPTS};
use crate::payment::{PaymentDetails, PaymentDirection, PaymentKind};
use crate::{net, runtime, Error};

/// The final CLTV delta of keysend payments (as ldk-node).
const KEYSEND_FINAL_CLTV_EXPIRY_DELTA: u32 = 40;

/// Keysend payments. Get one with [`crate::Node::spontaneous_payment`].
pub struct SpontaneousPayment {
    inner: Arc<NodeInner>,
}

impl SpontaneousPayment {
    pub(crate) fn new(inner: Arc<NodeInner>) -> Self {
        SpontaneousPayment { inner }
    }

    /// Pays `amount_msat` to `node_id` and waits for the outcome.
    pub async fn send(&self, node_id: &str, amount_msat: u64) -> Result<PaymentDetails, Error> {
        let inner = &self.inner;
        inner.check_running()?;
        inner.check_storage()?;
        let payee = net::parse_node_id(node_id)?;
        if payee == inner.node_id {
            return Err(Error::InvalidConfig("cannot pay ourselves".into()));
        }
        if amount_msat == 0 {
            return Err(Error::InvalidConfig("the amount must be positive".into()));
        }
        let preimage = PaymentPreimage(inner.keys.get_secure_random_bytes());
        let payment_id = PaymentId(inner.keys.get_secure_random_bytes());
        let params = RouteParameters::from_payment_params_and_value(
            PaymentParameters::for_keysend(payee, KEYSEND_FINAL_CLTV_EXPIRY_DELTA, false),
            amount_msat,
        );
        let hash = PaymentHash(sha256::Hash::hash(&preimage.0).to_byte_array());
        let record = PaymentDetails::pending(
            payment_id.0.as_hex().to_string(),
            PaymentKind::Spontaneous,
            PaymentDirection::Outbound,
            hash.0.as_hex().to_string(),
            Some(amount_msat),
            runtime::now().as_secs(),
        );
        send_recorded(inner, record, || {
            inner
                .channel_manager
                .send_spontaneous_payment(
                    Some(preimage),
                    RecipientOnionFields::spontaneous_empty(),
                    payment_id,
                    params,
                    Retry::Attempts(PAYMENT_RETRY_ATTEMPTS),
                )
                .map(|_| ())
                .map_err(send_failure)
        })
        .await
    }
}
