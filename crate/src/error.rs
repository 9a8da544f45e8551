//! The one error type of the public API. Each variant has a stable `code` that JavaScript
//! sees as `LnError.code` (API.md); the codes never change meaning once released.

use core::fmt;

/// Every way a public call can fail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The configuration is invalid (unknown network, malformed URL, ...).
    InvalidConfig(String),
    /// The invoice cannot be parsed or is not a valid BOLT11 invoice.
    InvalidInvoice(String),
    /// The invoice has expired.
    InvoiceExpired,
    /// The invoice, address or store belongs to another network.
    WrongNetwork(String),
    /// Not enough funds, on-chain or in channels, for the amount asked.
    InsufficientFunds(String),
    /// No route to the payee was found.
    NoRoute(String),
    /// No channel can receive this amount.
    NoInboundCapacity(String),
    /// The fee would exceed the caller's maximum.
    FeeTooHigh(String),
    /// The peer could not be reached.
    PeerUnreachable(String),
    /// The WebSocket-to-TCP proxy could not be reached.
    ProxyUnreachable(String),
    /// The Esplora chain source is down or answered garbage.
    ChainSourceUnavailable(String),
    /// No channel with that id exists.
    UnknownChannel(String),
    /// No pending event has that id: it was already handled (perhaps by another consumer),
    /// is not the oldest pending event (not delivered yet), or was never issued.
    UnknownEvent(String),
    /// This node is already running elsewhere (another tab holds its lock).
    NodeLocked,
    /// The node is stopped, or stopped itself after an internal error.
    NodeStopped,
    /// The passphrase does not decrypt the stored seed.
    WrongPassphrase,
    /// A passphrase was given but the stored seed is not encrypted: whoever could write the
    /// storage may have planted a seed of their own, so it is not used.
    SeedNotEncrypted,
    /// Storage is unavailable, full, or refused a write.
    StorageUnavailable(String),
    /// The payment failed; the text says why.
    PaymentFailed(String),
    /// The node stopped while this payment (its id) was in flight: it may still succeed.
    /// Not a failure; do not pay again, look at it after the next start.
    PaymentPending(String),
    /// A bug in wasm-ln: logged with details, please report it.
    Internal(String),
}

impl Error {
    /// Every code, as the TypeScript string union lists them.
    pub const CODES: [&'static str; 21] = [
        "INVALID_CONFIG",
        "INVALID_INVOICE",
        "INVOICE_EXPIRED",
        "WRONG_NETWORK",
        "INSUFFICIENT_FUNDS",
        "NO_ROUTE",
        "NO_INBOUND_CAPACITY",
        "FEE_TOO_HIGH",
        "PEER_UNREACHABLE",
        "PROXY_UNREACHABLE",
        "CHAIN_SOURCE_UNAVAILABLE",
        "UNKNOWN_CHANNEL",
        "UNKNOWN_EVENT",
        "NODE_LOCKED",
        "NODE_STOPPED",
        "WRONG_PASSPHRASE",
        "SEED_NOT_ENCRYPTED",
        "STORAGE_UNAVAILABLE",
        "PAYMENT_FAILED",
        "PAYMENT_PENDING",
        "INTERNAL",
    ];

    /// The stable machine-readable code (`LnError.code` in JavaScript).
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidConfig(_) => "INVALID_CONFIG",
            Error::InvalidInvoice(_) => "INVALID_INVOICE",
            Error::InvoiceExpired => "INVOICE_EXPIRED",
            Error::WrongNetwork(_) => "WRONG_NETWORK",
            Error::InsufficientFunds(_) => "INSUFFICIENT_FUNDS",
            Error::NoRoute(_) => "NO_ROUTE",
            Error::NoInboundCapacity(_) => "NO_INBOUND_CAPACITY",
            Error::FeeTooHigh(_) => "FEE_TOO_HIGH",
            Error::PeerUnreachable(_) => "PEER_UNREACHABLE",
            Error::ProxyUnreachable(_) => "PROXY_UNREACHABLE",
            Error::ChainSourceUnavailable(_) => "CHAIN_SOURCE_UNAVAILABLE",
            Error::UnknownChannel(_) => "UNKNOWN_CHANNEL",
            Error::UnknownEvent(_) => "UNKNOWN_EVENT",
            Error::NodeLocked => "NODE_LOCKED",
            Error::NodeStopped => "NODE_STOPPED",
            Error::WrongPassphrase => "WRONG_PASSPHRASE",
            Error::SeedNotEncrypted => "SEED_NOT_ENCRYPTED",
            Error::StorageUnavailable(_) => "STORAGE_UNAVAILABLE",
            Error::PaymentFailed(_) => "PAYMENT_FAILED",
            Error::PaymentPending(_) => "PAYMENT_PENDING",
            Error::Internal(_) => "INTERNAL",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidConfig(m) => write!(f, "invalid configuration: {m}"),
            Error::InvalidInvoice(m) => write!(f, "invalid invoice: {m}"),
            Error::InvoiceExpired => f.write_str("the invoice has expired"),
            Error::WrongNetwork(m) => write!(f, "wrong network: {m}"),
            Error::InsufficientFunds(m) => write!(f, "insufficient funds: {m}"),
            Error::NoRoute(m) => write!(f, "no route found: {m}"),
            Error::NoInboundCapacity(m) => write!(f, "no inbound capacity: {m}"),
            Error::FeeTooHigh(m) => write!(f, "fee too high: {m}"),
            Error::PeerUnreachable(m) => write!(f, "peer unreachable: {m}"),
            Error::ProxyUnreachable(m) => write!(f, "proxy unreachable: {m}"),
            Error::ChainSourceUnavailable(m) => write!(f, "chain source unavailable: {m}"),
            Error::UnknownChannel(m) => write!(f, "unknown channel: {m}"),
            Error::UnknownEvent(m) => write!(f, "unknown event: {m}"),
            Error::NodeLocked => f.write_str("the node is already running in another tab"),
            Error::NodeStopped => f.write_str("the node is stopped"),
            Error::WrongPassphrase => f.write_str("wrong passphrase for the stored seed"),
            Error::SeedNotEncrypted => f.write_str(
                "a passphrase was given but the stored seed is not encrypted: it was not used \
                 (someone with access to this storage may have replaced it); open without a \
                 passphrase only if you stored it in plaintext yourself",
            ),
            Error::StorageUnavailable(m) => write!(f, "storage unavailable: {m}"),
            Error::PaymentFailed(m) => write!(f, "payment failed: {m}"),
            Error::PaymentPending(id) => write!(
                f,
                "payment {id} is still pending: the node stopped before it settled; it may \
                 yet succeed, so do not pay again (see its status after the next start)"
            ),
            Error::Internal(m) => write!(f, "internal error (a bug in wasm-ln): {m}"),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_of_each() -> Vec<Error> {
        let s = || String::from("x");
        vec![
            Error::InvalidConfig(s()),
            Error::InvalidInvoice(s()),
            Error::InvoiceExpired,
            Error::WrongNetwork(s()),
            Error::InsufficientFunds(s()),
            Error::NoRoute(s()),
            Error::NoInboundCapacity(s()),
            Error::FeeTooHigh(s()),
            Error::PeerUnreachable(s()),
            Error::ProxyUnreachable(s()),
            Error::ChainSourceUnavailable(s()),
            Error::UnknownChannel(s()),
            Error::UnknownEvent(s()),
            Error::NodeLocked,
            Error::NodeStopped,
            Error::WrongPassphrase,
            Error::SeedNotEncrypted,
            Error::StorageUnavailable(s()),
            Error::PaymentFailed(s()),
            Error::PaymentPending(s()),
            Error::Internal(s()),
        ]
    }

    #[test]
    fn codes_are_distinct_and_listed_in_order() {
        let codes: Vec<_> = one_of_each().iter().map(Error::code).collect();
        assert_eq!(codes, Error::CODES.to_vec());
        let mut sorted = codes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), codes.len(), "duplicate code");
    }

    #[test]
    fn the_typescript_union_lists_every_code() {
        // The npm package's `CoreErrorCode` (crate/js/src/errors.ts; its `LnErrorCode` adds
        // the codes only the JavaScript layer raises) is written by hand.
        let ts = include_str!("../js/src/errors.ts");
        let union = &ts[ts.find("export type CoreErrorCode").expect("the union")..];
        let union = &union[..union.find(';').expect("its end")];
        let listed: Vec<&str> = union.split('"').skip(1).step_by(2).collect();
        assert_eq!(listed, Error::CODES.to_vec());
    }

    #[test]
    fn messages_carry_their_detail() {
        let e = Error::PeerUnreachable("127.0.0.1:9735 refused".into());
        assert_eq!(e.to_string(), "peer unreachable: 127.0.0.1:9735 refused");
        for e in one_of_each() {
            assert!(!e.to_string().is_empty());
        }
    }
}
