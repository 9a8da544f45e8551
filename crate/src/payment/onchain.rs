//! The on-chain wallet's handle: addresses, balance, sends.

use std::str::FromStr;
use std::sync::Arc;

use crate::bitcoin::{Address, Amount, FeeRate, Txid};
use crate::chain::esplora::{with_timeout, REQUEST_TIMEOUT};
use crate::chain::wallet::WalletBalance;
use crate::event_handler::wallet_fee_rate;
use crate::node::NodeInner;
use crate::Error;

/// Sending and receiving on-chain. Get one with [`crate::Node::onchain`].
pub struct OnchainPayment {
    inner: Arc<NodeInner>,
}

impl OnchainPayment {
    pub(crate) fn new(inner: Arc<NodeInner>) -> Self {
        OnchainPayment { inner }
    }

    /// A new receiving address, remembered (and watched) across restarts.
    pub async fn new_address(&self) -> Result<Address, Error> {
        self.inner.check_not_stopped()?;
        self.inner.wallet.new_address().await
    }

    /// The balance as of the last sync.
    pub fn balance(&self) -> WalletBalance {
        self.inner.wallet.balance()
    }

    fn parse_address(&self, address: &str) -> Result<Address, Error> {
        let unchecked = Address::from_str(address).map_err(|e| {
            Error::InvalidConfig(format!("not a bitcoin address: {address:?}: {e}"))
        })?;
        let network = self.inner.config.network;
        unchecked
            .require_network(network.to_bitcoin())
            .map_err(|_| Error::WrongNetwork(format!("{address} is not a {network} address")))
    }

    fn fee_rate(&self, sat_per_vb: Option<u64>) -> Result<FeeRate, Error> {
        match sat_per_vb {
            Some(rate) => FeeRate::from_sat_per_vb(rate)
                .filter(|_| rate >= 1)
                .ok_or_else(|| Error::InvalidConfig(format!("bad fee rate {rate} sat/vB"))),
            None => Ok(wallet_fee_rate(&*self.inner.chain)),
        }
    }

    /// Sends `amount_sat` to `address` at `fee_rate_sat_per_vb` (default: the chain source's
    /// estimate) and returns the transaction id once Esplora accepted it.
    pub async fn send_to_address(
        &self,
        address: &str,
        amount_sat: u64,
        fee_rate_sat_per_vb: Option<u64>,
    ) -> Result<Txid, Error> {
        let address = self.parse_address(address)?;
        let fee_rate = self.fee_rate(fee_rate_sat_per_vb)?;
        self.send(address, Some(Amount::from_sat(amount_sat)), fee_rate)
            .await
    }

    /// Sends everything the wallet can spend to `address`, less the reserve kept for anchor
    /// channels (`Balances::onchain_reserve_sat`), which stays in the wallet.
    pub async fn send_all(
        &self,
        address: &str,
        fee_rate_sat_per_vb: Option<u64>,
    ) -> Result<Txid, Error> {
        let address = self.parse_address(address)?;
        let fee_rate = self.fee_rate(fee_rate_sat_per_vb)?;
        self.send(address, None, fee_rate).await
    }

    async fn send(
        &self,
        address: Address,
        amount: Option<Amount>,
        fee_rate: FeeRate,
    ) -> Result<Txid, Error> {
        self.inner.check_not_stopped()?;
        let wallet = &self.inner.wallet;
        let chain = &self.inner.chain;
        let reserve = self.inner.anchor_reserve(0);
        let tx = wallet
            .create_transaction(address.script_pubkey(), amount, fee_rate, reserve)
            .await?;
        let txid = tx.compute_txid();
        match chain.broadcast(&tx).await {
            Ok(()) => Ok(txid),
            // The server answered that the network refused it: give the inputs back.
            Err(e @ esplora_client::Error::HttpResponse { status, .. })
                if (400..500).contains(&status) =>
            {
                wallet.cancel_transaction(&tx).await?;
                Err(Error::from(e))
            }
            // No answer (timeout, 5xx, dropped connection): it may have been relayed. It stays
            // in the wallet as pending, its inputs reserved, so the balance shows the spend,
            // and the node broadcasts it again with every new block until it confirms.
            Err(e) => match with_timeout(REQUEST_TIMEOUT, chain.client().get_tx(&txid)).await {
                Some(Ok(Some(_))) => Ok(txid),
                _ => Err(Error::ChainSourceUnavailable(format!(
                    "broadcasting {txid} got no answer ({e}); the node broadcasts it again \
                     with every new block until it confirms: do not send again, another send \
                     would spend other coins"
                ))),
            },
        }
    }
}
