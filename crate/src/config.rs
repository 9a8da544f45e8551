//! Node configuration values shared by the Rust and JavaScript APIs.

use core::fmt;
use core::str::FromStr;

use crate::Error;

/// The Bitcoin network a node runs on. In JavaScript a string union:
/// `"bitcoin" | "testnet" | "signet" | "regtest"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// Bitcoin mainnet: real money.
    Bitcoin,
    /// Testnet3.
    Testnet,
    /// The default signet.
    Signet,
    /// A local regression-test chain.
    Regtest,
}

impl Network {
    /// Every network, in the order the JS string union lists them.
    pub const ALL: [Network; 4] = [
        Network::Bitcoin,
        Network::Testnet,
        Network::Signet,
        Network::Regtest,
    ];

    /// The name used in configs and in `getInfo().network`.
    pub fn as_str(self) -> &'static str {
        match self {
            Network::Bitcoin => "bitcoin",
            Network::Testnet => "testnet",
            Network::Signet => "signet",
            Network::Regtest => "regtest",
        }
    }

    /// The matching `bitcoin::Network` used by LDK and BDK.
    pub fn to_bitcoin(self) -> bitcoin::Network {
        match self {
            Network::Bitcoin => bitcoin::Network::Bitcoin,
            Network::Testnet => bitcoin::Network::Testnet,
            Network::Signet => bitcoin::Network::Signet,
            Network::Regtest => bitcoin::Network::Regtest,
        }
    }
}

use lightning::bitcoin;

impl FromStr for Network {
    type Err = Error;

    /// Accepts exactly the names of [`Network::as_str`]: a typo must not silently pick a
    /// network, least of all mainnet.
    fn from_str(s: &str) -> Result<Self, Error> {
        Network::ALL
            .into_iter()
            .find(|n| n.as_str() == s)
            .ok_or_else(|| {
                Error::InvalidConfig(format!(
                    "unknown network {s:?}: expected one of \"bitcoin\", \"testnet\", \"signet\", \"regtest\""
                ))
            })
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Network> for bitcoin::Network {
    fn from(n: Network) -> Self {
        n.to_bitcoin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for n in Network::ALL {
            assert_eq!(n.as_str().parse::<Network>().unwrap(), n);
            assert_eq!(n.to_string(), n.as_str());
        }
    }

    #[test]
    fn unknown_or_sloppy_names_are_refused() {
        for bad in ["", "mainnet", "Bitcoin", " regtest", "testnet4", "main"] {
            let err = bad.parse::<Network>().unwrap_err();
            assert_eq!(err.code(), "INVALID_CONFIG", "{bad:?}");
        }
    }

    #[test]
    fn maps_to_bitcoin_network() {
        assert_eq!(
            bitcoin::Network::from(Network::Signet),
            bitcoin::Network::Signet
        );
        assert_eq!(Network::Bitcoin.to_bitcoin(), bitcoin::Network::Bitcoin);
    }
}
