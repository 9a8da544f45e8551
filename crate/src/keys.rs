//! Everything secret derives from the 64-byte BIP39 seed ([`crate::seed`]):
//!
//! - **LDK** ([`ldk_seed`], [`keys_manager`]): the 32-byte `KeysManager` seed is the private
//!   key of the BIP32 node `m/535'/0'` of the BIP39 seed (master key from
//!   `HMAC-SHA512("Bitcoin seed", seed)`, BIP32 hardened derivation; 535 is an arbitrary
//!   purpose number that no wallet standard uses). The same seed on every network; the node
//!   key, channel keys and LDK's own sweep addresses all come from it via `KeysManager`.
//! - **On-chain wallet** ([`bip84_descriptors`]): BIP84 single-key segwit,
//!   `wpkh(<master xprv>/84'/<coin>'/0'/0/*)` for receiving and `.../1/*` for change, coin
//!   type 0 on bitcoin and 1 on every test network. Any BIP84 wallet (Sparrow, Electrum,
//!   BlueWallet, ...) shows the same addresses for the same words.
//!
//! **Compatibility promise**: both derivations are fixed forever; changing either would lose
//! the funds of every existing node. Tests pin them with fixed vectors.

use lightning::bitcoin::bip32::{ChildNumber, Xpriv};
use lightning::bitcoin::secp256k1::Secp256k1;
use lightning::bitcoin::{Network as BitcoinNetwork, NetworkKind};
use lightning::sign::KeysManager;

use crate::{runtime, Error, Network};

/// The BIP32 path of the LDK seed: `m/535'/0'`.
pub const LDK_SEED_PATH: [u32; 2] = [535, 0];

/// The 32-byte LDK `KeysManager` seed: the private key at `m/535'/0'` of `bip39_seed`.
pub fn ldk_seed(bip39_seed: &[u8; 64]) -> Result<[u8; 32], Error> {
    let secp = Secp256k1::signing_only();
    // The network kind only changes the xprv's serialisation, never its keys.
    let master = Xpriv::new_master(NetworkKind::Main, bip39_seed)
        .map_err(|e| Error::Internal(format!("BIP32 master key: {e}")))?;
    let path = LDK_SEED_PATH
        .iter()
        .map(|&index| ChildNumber::from_hardened_idx(index))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Internal(format!("BIP32 path: {e}")))?;
    let node = master
        .derive_priv(&secp, &path)
        .map_err(|e| Error::Internal(format!("BIP32 derivation: {e}")))?;
    Ok(node.private_key.secret_bytes())
}

/// LDK's `KeysManager` for `bip39_seed`, started at [`runtime::now`] (LDK without `std` takes
/// no time itself), with v2 remote key derivation (static `to_remote` keys recoverable from
/// the seed alone).
pub fn keys_manager(bip39_seed: &[u8; 64]) -> Result<KeysManager, Error> {
    let seed = ldk_seed(bip39_seed)?;
    let now = runtime::now();
    Ok(KeysManager::new(
        &seed,
        now.as_secs(),
        now.subsec_nanos(),
        true,
    ))
}

/// The node id `bip39_seed` gives, without building a node: known before any storage is
/// touched, so that two tabs cannot run one node (the browser layer locks it).
pub fn node_id(bip39_seed: &[u8; 64]) -> Result<lightning::bitcoin::secp256k1::PublicKey, Error> {
    use lightning::sign::{NodeSigner, Recipient};
    keys_manager(bip39_seed)?
        .get_node_id(Recipient::Node)
        .map_err(|()| Error::Internal("no node id".into()))
}

/// BIP84 coin type: 0 on bitcoin, 1 on every test network.
pub fn bip84_coin_type(network: Network) -> u32 {
    match network.to_bitcoin() {
        BitcoinNetwork::Bitcoin => 0,
        _ => 1,
    }
}

/// The BIP84 descriptors `(external, internal)` of `bip39_seed` on `network`, with the private
/// master key (`xprv` on bitcoin, `tprv` elsewhere). They hold secrets: never log them.
pub fn bip84_descriptors(
    bip39_seed: &[u8; 64],
    network: Network,
) -> Result<(String, String), Error> {
    let master = Xpriv::new_master(network.to_bitcoin(), bip39_seed)
        .map_err(|e| Error::Internal(format!("BIP32 master key: {e}")))?;
    let coin = bip84_coin_type(network);
    Ok((
        format!("wpkh({master}/84'/{coin}'/0'/0/*)"),
        format!("wpkh({master}/84'/{coin}'/0'/1/*)"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::parse_mnemonic;
    use lightning::bitcoin::hex::DisplayHex;
    use lightning::sign::NodeSigner;

    const ABANDON: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

    fn abandon_seed() -> [u8; 64] {
        *parse_mnemonic(ABANDON).unwrap().to_seed("")
    }

    #[test]
    fn ldk_seed_vector_never_changes() {
        // m/535'/0' of "abandon x11 about" (no passphrase); cross-checked with an independent
        // Python BIP39/BIP32 implementation (hashlib PBKDF2 + HMAC-SHA512).
        assert_eq!(
            ldk_seed(&abandon_seed()).unwrap().to_lower_hex_string(),
            LDK_SEED_VECTOR
        );
        let other = parse_mnemonic(ABANDON).unwrap().to_seed("x");
        assert_ne!(
            ldk_seed(&other).unwrap().to_lower_hex_string(),
            LDK_SEED_VECTOR
        );
    }

    const LDK_SEED_VECTOR: &str =
        "c9e1abf64312a43d74b6452e5be41b6b430b777acaedaa7b1a67e077428bf9eb";

    #[test]
    fn keys_manager_node_id_is_deterministic() {
        let a = keys_manager(&abandon_seed()).unwrap();
        let b = keys_manager(&abandon_seed()).unwrap();
        let id = |k: &KeysManager| k.get_node_id(lightning::sign::Recipient::Node).unwrap();
        assert_eq!(id(&a), id(&b));
        assert_eq!(node_id(&abandon_seed()).unwrap(), id(&a));
    }

    #[test]
    fn bip84_descriptors_use_the_coin_type_of_the_network() {
        let seed = abandon_seed();
        let (ext, int) = bip84_descriptors(&seed, Network::Bitcoin).unwrap();
        assert!(ext.starts_with("wpkh(xprv"), "{ext}");
        assert!(ext.ends_with("/84'/0'/0'/0/*)"));
        assert!(int.ends_with("/84'/0'/0'/1/*)"));
        let (ext, int) = bip84_descriptors(&seed, Network::Regtest).unwrap();
        assert!(ext.starts_with("wpkh(tprv"), "{ext}");
        assert!(ext.ends_with("/84'/1'/0'/0/*)"));
        assert!(int.ends_with("/84'/1'/0'/1/*)"));
    }
}
