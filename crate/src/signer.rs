//! The node's [`SignerProvider`]: LDK's [`KeysManager`] for every channel key, with the
//! on-chain wallet's own addresses as the destination of cooperative closes and of the
//! node's static outputs. Funds leaving a channel then land in the BDK wallet directly
//! (one mnemonic, one balance) instead of in keys only LDK knows, which would need a sweep.
//!
//! Those scripts are the wallet's lowest unused change address, and only once the store
//! holds its index ([`OnchainWallet::change_script_now`]): a restore from the mnemonic finds
//! what pays to them, however many channels asked. LDK asks synchronously; when no such
//! address is ready the call fails and LDK refuses that channel, rather than take a script
//! that a restart could forget.

use std::sync::Arc;

use lightning::ln::script::ShutdownScript;
use lightning::sign::{InMemorySigner, KeysManager, SignerProvider};

use crate::bitcoin::ScriptBuf;
use crate::chain::wallet::OnchainWallet;
use crate::io::DynStore;
use crate::logger::{log_at, NodeLogger};

/// [`KeysManager`] plus the wallet for destination scripts.
pub struct WalletSignerProvider {
    keys: Arc<KeysManager>,
    wallet: Arc<OnchainWallet<DynStore>>,
    logger: Arc<NodeLogger>,
}

impl WalletSignerProvider {
    /// Channel keys from `keys`, payout scripts from `wallet`.
    pub fn new(
        keys: Arc<KeysManager>,
        wallet: Arc<OnchainWallet<DynStore>>,
        logger: Arc<NodeLogger>,
    ) -> Self {
        WalletSignerProvider {
            keys,
            wallet,
            logger,
        }
    }

    fn wallet_script(&self) -> Result<ScriptBuf, ()> {
        self.wallet.change_script_now().map_err(|e| {
            log_at!(self.logger, Error, "no wallet address for a payout: {e}");
        })
    }
}

impl SignerProvider for WalletSignerProvider {
    type EcdsaSigner = InMemorySigner;

    fn generate_channel_keys_id(&self, inbound: bool, user_channel_id: u128) -> [u8; 32] {
        self.keys.generate_channel_keys_id(inbound, user_channel_id)
    }

    fn derive_channel_signer(&self, channel_keys_id: [u8; 32]) -> InMemorySigner {
        self.keys.derive_channel_signer(channel_keys_id)
    }

    fn get_destination_script(&self, _channel_keys_id: [u8; 32]) -> Result<ScriptBuf, ()> {
        self.wallet_script()
    }

    fn get_shutdown_scriptpubkey(&self) -> Result<ShutdownScript, ()> {
        let script = self.wallet_script()?;
        ShutdownScript::try_from(script).map_err(|e| {
            log_at!(
                self.logger,
                Error,
                "wallet address is no valid shutdown script: {e:?}"
            );
        })
    }
}
