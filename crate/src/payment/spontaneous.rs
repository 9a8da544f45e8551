//! Keysend: paying a node id directly, the preimage carried in the onion.

use std::sync::Arc;

use lightning::ln::channelmanager::RecipientOnionFields;
use lightning::ln::channelmanager::RetryableSendFailure;
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

/// The first TLV type of the onion's custom range (BOLT 4: types below 2^16 are the
/// protocol's).
pub const MIN_CUSTOM_RECORD_TYPE: u64 = 1 << 16;
/// Custom-range types the protocol took: keysend's preimage (bLIP-3) and async payments'
/// invoice requests; LDK refuses to send them as custom records.
const RESERVED_CUSTOM_RECORD_TYPES: [u64; 2] = [5_482_373_484, 77_777];

/// Checks custom records (TLV type, value) for a keysend: types at least
/// [`MIN_CUSTOM_RECORD_TYPE`], none reserved, none twice; sorted by type. `INVALID_CONFIG`
/// says which one is wrong.
pub fn check_custom_records(
    mut records: Vec<(u64, Vec<u8>)>,
) -> Result<Vec<(u64, Vec<u8>)>, Error> {
    records.sort_unstable_by_key(|(t, _)| *t);
    for (i, (t, _)) in records.iter().enumerate() {
        if *t < MIN_CUSTOM_RECORD_TYPE {
            return Err(Error::InvalidConfig(format!(
                "custom record type {t} is below {MIN_CUSTOM_RECORD_TYPE}: lower types are \
                 the protocol's"
            )));
        }
        if RESERVED_CUSTOM_RECORD_TYPES.contains(t) {
            return Err(Error::InvalidConfig(format!(
                "custom record type {t} is reserved by the protocol"
            )));
        }
        if i > 0 && records[i - 1].0 == *t {
            return Err(Error::InvalidConfig(format!(
                "custom record type {t} is given twice"
            )));
        }
    }
    Ok(records)
}

/// Custom records as JavaScript gives them (WebLN `keysend`'s `customRecords`): decimal TLV
/// types to hex values, checked by [`check_custom_records`].
pub fn parse_custom_records<'a>(
    records: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Vec<(u64, Vec<u8>)>, Error> {
    use crate::bitcoin::hex::FromHex;
    let parsed = records
        .into_iter()
        .map(|(t, v)| {
            let ty = Some(t)
                .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|t| t.parse::<u64>().ok())
                .ok_or_else(|| {
                    Error::InvalidConfig(format!(
                        "custom record type {t:?} is not a decimal number (a TLV type)"
                    ))
                })?;
            let value = Vec::<u8>::from_hex(v).map_err(|e| {
                Error::InvalidConfig(format!("custom record {ty}: the value is not hex: {e}"))
            })?;
            Ok((ty, value))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    check_custom_records(parsed)
}

/// Keysend payments. Get one with [`crate::Node::spontaneous_payment`].
pub struct SpontaneousPayment {
    inner: Arc<NodeInner>,
}

impl SpontaneousPayment {
    pub(crate) fn new(inner: Arc<NodeInner>) -> Self {
        SpontaneousPayment { inner }
    }

    /// Pays `amount_msat` to `node_id` and waits for the outcome. `max_fee_msat` caps the
    /// routing fees (default LDK's 1 % + 50 sat): no route within it is
    /// [`Error::FeeTooHigh`] (as for [`crate::payment::bolt11::Bolt11Payment::send`]), with
    /// nothing sent.
    pub async fn send(
        &self,
        node_id: &str,
        amount_msat: u64,
        max_fee_msat: Option<u64>,
    ) -> Result<PaymentDetails, Error> {
        self.send_with_custom_records(node_id, amount_msat, Vec::new(), max_fee_msat)
            .await
    }

    /// [`Self::send`] with custom records in the payee's onion (TLV type, value): types at
    /// least [`MIN_CUSTOM_RECORD_TYPE`] (else `INVALID_CONFIG`), e.g. 7629169 for podcasting
    /// 2.0 boostagrams. Odd types may be ignored by the payee; it fails the payment back on
    /// an even type it does not understand ("it's OK to be odd"): LDK and ldk-node payees do
    /// for every even type their app has not declared, e.g. WhatSat's 34349334 message. They share the onion's 1,300 bytes with the route: too many bytes are
    /// `PAYMENT_FAILED` ("the payment's onion is too large").
    pub async fn send_with_custom_records(
        &self,
        node_id: &str,
        amount_msat: u64,
        custom_records: Vec<(u64, Vec<u8>)>,
        max_fee_msat: Option<u64>,
    ) -> Result<PaymentDetails, Error> {
        let inner = &self.inner;
        inner.check_running()?;
        inner.check_storage()?;
        let custom_records = check_custom_records(custom_records)?;
        let onion = RecipientOnionFields::spontaneous_empty()
            .with_custom_tlvs(custom_records)
            .map_err(|()| Error::InvalidConfig("LDK refused the custom records".into()))?;
        let payee = net::parse_node_id(node_id)?;
        if payee == inner.node_id {
            return Err(Error::InvalidConfig("cannot pay ourselves".into()));
        }
        if amount_msat == 0 {
            return Err(Error::InvalidConfig("the amount must be positive".into()));
        }
        let preimage = PaymentPreimage(inner.keys.get_secure_random_bytes());
        let payment_id = PaymentId(inner.keys.get_secure_random_bytes());
        let mut params = RouteParameters::from_payment_params_and_value(
            PaymentParameters::for_keysend(payee, KEYSEND_FINAL_CLTV_EXPIRY_DELTA, false),
            amount_msat,
        );
        // The limit holds for every retry too (LDK keeps it in the retry's parameters).
        if max_fee_msat.is_some() {
            params.max_total_routing_fee_msat = max_fee_msat;
        }
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
                    onion,
                    payment_id,
                    params.clone(),
                    Retry::Attempts(PAYMENT_RETRY_ATTEMPTS),
                )
                .map(|_| ())
                .map_err(|e| match e {
                    RetryableSendFailure::RouteNotFound => {
                        crate::graph::no_route_error_for(inner, payee, false, &params)
                    }
                    f => send_failure(f),
                })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_records_parse_and_are_checked() {
        let ok =
            parse_custom_records([("7629169", "7b7d"), ("65537", ""), ("696969", "AbCd")]).unwrap();
        assert_eq!(
            ok,
            vec![
                (65_537, vec![]),
                (696_969, vec![0xab, 0xcd]),
                (7_629_169, vec![0x7b, 0x7d])
            ]
        );
        for (t, v, why) in [
            ("65535", "00", "below 65536"),
            ("5482373484", "00", "reserved"),
            ("0x10000", "00", "not a decimal"),
            ("+65537", "00", "not a decimal"),
            ("", "00", "not a decimal"),
            ("99999999999999999999999", "00", "not a decimal"),
            ("65537", "abc", "not hex"),
            ("65537", "zz", "not hex"),
        ] {
            let e = parse_custom_records([(t, v)]).unwrap_err();
            assert_eq!(e.code(), "INVALID_CONFIG");
            assert!(e.to_string().contains(why), "{t:?} {v:?}: {e}");
        }
        let e = check_custom_records(vec![(70_000, vec![1]), (70_000, vec![2])]).unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
    }
}
