//! The seed, the key derivations and the BDK on-chain wallet, against the real fixture
//! (bitcoind regtest + Esplora REST).
#![cfg(not(target_arch = "wasm32"))]

use std::sync::Arc;

use lightning::bitcoin::hex::DisplayHex;
use regtest_esplora::RegtestEsplora;
use wasm_ln::bitcoin::Address;
use wasm_ln::chain::{EsploraChainSource, OnchainWallet, WalletBalance, WalletSyncKind};
use wasm_ln::io::MemoryStore;
use wasm_ln::seed::{generate_mnemonic, parse_mnemonic};
use wasm_ln::{keys, Network};

const ABANDON: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

#[tokio::test]
async fn wallet_receives_confirms_reloads_and_restores_from_the_mnemonic() {
    let esplora = RegtestEsplora::start().await.expect("fixture");
    let chain = EsploraChainSource::new(esplora.esplora_url()).unwrap();
    let client = chain.client();

    let mnemonic = generate_mnemonic().unwrap();
    let seed = mnemonic.to_seed("");
    let store = Arc::new(MemoryStore::new());
    let wallet = OnchainWallet::open(store.clone(), &seed, Network::Regtest)
        .await
        .unwrap();
    assert_eq!(wallet.sync(client).await.unwrap(), WalletSyncKind::FullScan);
    assert_eq!(wallet.balance(), WalletBalance::default());

    // Unconfirmed.
    let address = wallet.new_address().await.unwrap();
    assert!(address.to_string().starts_with("bcrt1q"), "{address}");
    let sats = 123_456;
    esplora.faucet_pay(&address, sats, false).await.unwrap();
    assert_eq!(wallet.sync(client).await.unwrap(), WalletSyncKind::Revealed);
    let b = wallet.balance();
    assert_eq!(b.unconfirmed_sat, sats, "{b:?}");
    assert_eq!(b.confirmed_sat, 0, "{b:?}");
    assert_eq!(
        b.spendable_sat, 0,
        "incoming is untrusted until confirmed: {b:?}"
    );

    // Confirmed.
    esplora.mine(1).await.unwrap();
    assert_eq!(wallet.sync(client).await.unwrap(), WalletSyncKind::Revealed);
    let confirmed = WalletBalance {
        confirmed_sat: sats,
        unconfirmed_sat: 0,
        immature_sat: 0,
        spendable_sat: sats,
    };
    assert_eq!(wallet.balance(), confirmed);

    // Reloaded from the stored changeset: same balance before any sync, and the next sync
    // is not a full scan. The next address continues after the revealed one.
    let reloaded = OnchainWallet::open(store.clone(), &seed, Network::Regtest)
        .await
        .unwrap();
    assert_eq!(reloaded.balance(), confirmed);
    assert_eq!(
        reloaded.sync(client).await.unwrap(),
        WalletSyncKind::Revealed
    );
    assert_eq!(reloaded.balance(), confirmed);
    assert_ne!(reloaded.new_address().await.unwrap(), address);

    // The store refuses another network and another seed.
    let err = OnchainWallet::open(store.clone(), &seed, Network::Testnet)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "WRONG_NETWORK", "{err}");
    let other_seed = generate_mnemonic().unwrap().to_seed("");
    let err = OnchainWallet::open(store.clone(), &other_seed, Network::Regtest)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_CONFIG", "{err}");

    // One mnemonic restores everything: a fresh store, the words typed back in.
    let restored_seed = parse_mnemonic(&mnemonic.to_string()).unwrap().to_seed("");
    let fresh = Arc::new(MemoryStore::new());
    let restored = OnchainWallet::open(fresh.clone(), &restored_seed, Network::Regtest)
        .await
        .unwrap();
    assert_eq!(restored.balance(), WalletBalance::default());
    assert_eq!(
        restored.sync(client).await.unwrap(),
        WalletSyncKind::FullScan
    );
    assert_eq!(restored.balance(), confirmed);
    // Its first new address is past the used one.
    assert_ne!(restored.new_address().await.unwrap(), address);
}

#[test]
fn bad_checksum_mnemonic_is_invalid_config() {
    let bad = ABANDON.replace("about", "abandon");
    let err = parse_mnemonic(&bad).unwrap_err();
    assert_eq!(err.code(), "INVALID_CONFIG");
    assert!(err.to_string().contains("bad checksum"), "{err}");
    let err = parse_mnemonic("abandon abandon zzz").unwrap_err();
    assert_eq!(err.code(), "INVALID_CONFIG");
}

#[test]
fn ldk_seed_derivation_is_fixed() {
    // m/535'/0' of the BIP39 seed of "abandon x11 about": a compatibility promise.
    let seed = parse_mnemonic(ABANDON).unwrap().to_seed("");
    assert_eq!(
        keys::ldk_seed(&seed).unwrap().to_lower_hex_string(),
        "c9e1abf64312a43d74b6452e5be41b6b430b777acaedaa7b1a67e077428bf9eb"
    );
}

#[tokio::test]
async fn first_bip84_addresses_match_the_test_vectors() {
    let seed = parse_mnemonic(ABANDON).unwrap().to_seed("");

    // BIP84's own test vector: m/84'/0'/0'/0/0.
    let mainnet = OnchainWallet::open(Arc::new(MemoryStore::new()), &seed, Network::Bitcoin)
        .await
        .unwrap();
    assert_eq!(
        mainnet.new_address().await.unwrap().to_string(),
        "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
    );

    // m/84'/1'/0'/0/0 (coin type 1): the well-known testnet address, same key on regtest.
    let regtest = OnchainWallet::open(Arc::new(MemoryStore::new()), &seed, Network::Regtest)
        .await
        .unwrap();
    let first = regtest.new_address().await.unwrap();
    let testnet: Address = "tb1q6rz28mcfaxtmd6v789l9rrlrusdprr9pqcpvkl"
        .parse::<Address<_>>()
        .unwrap()
        .assume_checked();
    assert_eq!(first.script_pubkey(), testnet.script_pubkey());
    assert!(first.to_string().starts_with("bcrt1q"), "{first}");
}

/// A fee bump of LDK's (a CPFP child, an HTLC transaction) spends wallet coins BDK only learns
/// about at a later sync: until then the wallet's own sends leave them alone, and a bump
/// never broadcast gives them back after a few blocks.
#[tokio::test]
async fn coins_of_a_fee_bump_stay_out_of_sends() {
    use wasm_ln::bitcoin::psbt::Psbt;
    use wasm_ln::bitcoin::{
        absolute, transaction, Amount, FeeRate, ScriptBuf, Sequence, Transaction, TxIn, TxOut,
        Witness,
    };
    let esplora = RegtestEsplora::start().await.expect("fixture");
    let chain = EsploraChainSource::new(esplora.esplora_url()).unwrap();
    let client = chain.client();
    let seed = generate_mnemonic().unwrap().to_seed("");
    let wallet = OnchainWallet::open(Arc::new(MemoryStore::new()), &seed, Network::Regtest)
        .await
        .unwrap();
    wallet.sync(client).await.unwrap();
    let address = wallet.new_address().await.unwrap();
    esplora.faucet_pay(&address, 100_000, true).await.unwrap();
    wallet.sync(client).await.unwrap();
    let coins = wallet.confirmed_utxos();
    let [(outpoint, txout)] = &coins[..] else {
        panic!("one coin: {coins:?}")
    };
    let (outpoint, txout) = (*outpoint, txout.clone());

    // LDK's PSBT: our coin, with its previous output, paying a change script.
    let tx = Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: outpoint,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(99_000),
            script_pubkey: address.script_pubkey(),
        }],
    };
    let mut psbt = Psbt::from_unsigned_tx(tx).unwrap();
    psbt.inputs[0].witness_utxo = Some(txout);
    let signed = wallet.sign_foreign_psbt(psbt).unwrap();
    assert!(!signed.input[0].witness.is_empty(), "our input signed");

    // Held: nothing else to spend.
    let rate = FeeRate::from_sat_per_vb(2).unwrap();
    let err = wallet
        .check_can_pay(10_000, rate, Amount::ZERO)
        .unwrap_err();
    assert_eq!(err.code(), "INSUFFICIENT_FUNDS", "{err}");
    // The bump never went out: six blocks later the coin is the wallet's again.
    esplora.mine(6).await.unwrap();
    wallet.sync(client).await.unwrap();
    wallet
        .check_can_pay(10_000, rate, Amount::ZERO)
        .expect("released");
}
