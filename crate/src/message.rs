//! Node message signing: the format LND's `signmessage`/`verifymessage`, Core Lightning's
//! `signmessage`/`checkmessage` and ldk-node all use (WebLN `signMessage`/`verifyMessage`):
//! the zbase32 encoding of a 65-byte recoverable ECDSA signature (a header byte 31 + recovery
//! id, then r and s) over `SHA256d("Lightning Signed Message:" || message)`.
//!
//! Signing needs the node key and is [`crate::Node::sign_message`]; verifying needs no node
//! ([`verify_message`]): the signature itself says which key made it.

use lightning::bitcoin::secp256k1::PublicKey;
use lightning::util::message_signing;

/// What a signature says about a message ([`crate::Node::verify_message`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageVerification {
    /// Whether the signature is well formed and recovers to a node this node knows (itself, a
    /// peer, a channel counterparty, a node of the graph): LND's `verifymessage` meaning.
    pub valid: bool,
    /// The key the signature recovers to over this message; `None` when the signature is not
    /// a well-formed zbase32 recoverable signature.
    ///
    /// Any well-formed signature recovers to *some* key, so over a tampered message this is a
    /// random key: compare it with the signer you expect (a node id) before trusting it.
    pub pubkey: Option<PublicKey>,
}

/// The key that made `signature` over `message`, or `None` when the signature is malformed
/// (not zbase32, not 65 bytes, a bad recovery id). A well-formed signature over another
/// message recovers to an unrelated key.
pub fn recover_signer(message: &[u8], signature: &str) -> Option<PublicKey> {
    message_signing::recover_pk(message, signature.trim()).ok()
}

/// Whether `pubkey` signed exactly `message` with `signature`; a malformed signature is not
/// an error but `false` (as LND's `verifymessage` answers `valid: false`).
pub fn verify_message(message: &[u8], signature: &str, pubkey: &PublicKey) -> bool {
    recover_signer(message, signature) == Some(*pubkey)
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::str::FromStr;

    /// Core Lightning's published `checkmessage` vector (its tests/test_misc.py, also used by
    /// LDK's own tests): a signature made by another implementation.
    const CLN_MESSAGE: &str = "is this compatible?";
    const CLN_SIGNATURE: &str = "rbgfioj114mh48d8egqx8o9qxqw4fmhe8jbeeabdioxnjk8z3t1ma1hu1fiswpakgucwwzwo6ofycffbsqusqdimugbh41n1g698hr9t";
    const CLN_PUBKEY: &str = "02b80cabdf82638aac86948e4c06e82064f547768dcef977677b9ea931ea75bab5";

    #[test]
    fn core_lightning_vector_recovers_its_key() {
        let pk = PublicKey::from_str(CLN_PUBKEY).unwrap();
        assert_eq!(
            recover_signer(CLN_MESSAGE.as_bytes(), CLN_SIGNATURE),
            Some(pk)
        );
        assert!(verify_message(CLN_MESSAGE.as_bytes(), CLN_SIGNATURE, &pk));
        let tampered = b"is this compatible!";
        assert!(!verify_message(tampered, CLN_SIGNATURE, &pk));
        assert!(recover_signer(tampered, CLN_SIGNATURE).is_some_and(|k| k != pk));
    }

    #[test]
    fn garbage_is_invalid_not_an_error() {
        for sig in ["", "not zbase32 at all!", "rbgfioj114mh48d8", "0000"] {
            assert_eq!(recover_signer(b"hi", sig), None, "{sig:?}");
        }
    }
}
