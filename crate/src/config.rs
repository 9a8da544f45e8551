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

/// Where the node keeps its state. In JavaScript `{ kind: "indexeddb", name? }` or
/// `{ kind: "memory", ephemeral? }`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum StorageConfig {
    /// The browser's IndexedDB, in the database `name` (default [`DEFAULT_STORAGE_NAME`]).
    IndexedDb {
        /// The database name; one node per database.
        #[serde(default)]
        name: Option<String>,
    },
    /// In memory: everything is lost when the page goes. For tests and throwaway nodes; on
    /// `bitcoin` only with `ephemeral: true`, which says so (channels and their funds go too).
    Memory {
        /// Allows memory storage on `bitcoin`.
        #[serde(default)]
        ephemeral: bool,
    },
}

/// The IndexedDB database a node uses unless told otherwise.
pub const DEFAULT_STORAGE_NAME: &str = "wasm-ln";

impl StorageConfig {
    /// The database name of an IndexedDB store (`None` for memory).
    pub fn indexeddb_name(&self) -> Option<&str> {
        match self {
            StorageConfig::IndexedDb { name } => {
                Some(name.as_deref().unwrap_or(DEFAULT_STORAGE_NAME))
            }
            StorageConfig::Memory { .. } => None,
        }
    }
}

/// The seed: which words, and how they are kept.
///
/// Creating: `mnemonic` restores those words, none generates new ones. With `passphrase`
/// the words are stored encrypted, and `open` needs only the passphrase; with
/// `storePlaintext: true` they are stored readable (tests, throwaway nodes); with neither
/// they are not stored and `open` needs `mnemonic` again.
#[derive(Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeedConfig {
    /// The words; `None` generates a new mnemonic (creation) or reads the stored one (open).
    #[serde(default)]
    pub mnemonic: Option<String>,
    /// The optional BIP39 passphrase (the "25th word"), part of the seed itself.
    #[serde(default)]
    pub bip39_passphrase: Option<String>,
    /// Encrypts the stored seed (creation) or decrypts it (open).
    #[serde(default)]
    pub passphrase: Option<String>,
    /// Stores the seed unencrypted: only when asked for, never by default.
    #[serde(default)]
    pub store_plaintext: bool,
}

// Never print the words or passphrases.
impl fmt::Debug for SeedConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |o: &Option<String>| o.as_ref().map(|_| "<redacted>");
        f.debug_struct("SeedConfig")
            .field("mnemonic", &hidden(&self.mnemonic))
            .field("bip39_passphrase", &hidden(&self.bip39_passphrase))
            .field("passphrase", &hidden(&self.passphrase))
            .field("store_plaintext", &self.store_plaintext)
            .finish()
    }
}

impl SeedConfig {
    /// How a node being created keeps its seed; `None`: not at all.
    pub fn protection(&self) -> Result<Option<crate::seed::Protection<'_>>, Error> {
        use crate::seed::Protection;
        match (&self.passphrase, self.store_plaintext) {
            (Some(_), true) => Err(Error::InvalidConfig(
                "seed.passphrase and seed.storePlaintext exclude each other".into(),
            )),
            (Some(p), false) => Ok(Some(Protection::Passphrase(p))),
            (None, true) => Ok(Some(Protection::Plaintext)),
            (None, false) => Ok(None),
        }
    }

    /// The seed of a node being created (`opening == false`: the given words, or new ones;
    /// the second value says they were generated) or opened (the given words, else those
    /// sealed in `store`, with [`SeedConfig::passphrase`]).
    pub async fn resolve(
        &self,
        store: &crate::io::DynStore,
        opening: bool,
    ) -> Result<(crate::seed::SeedSecret, bool), Error> {
        use crate::seed::{self, SeedSecret};
        let secret = |mnemonic| SeedSecret {
            mnemonic,
            bip39_passphrase: self.bip39_passphrase.clone().unwrap_or_default(),
        };
        match &self.mnemonic {
            Some(words) => Ok((secret(seed::parse_mnemonic(words)?), false)),
            None if !opening => {
                if self.bip39_passphrase.is_some() {
                    return Err(Error::InvalidConfig(
                        "seed.bip39Passphrase needs seed.mnemonic".into(),
                    ));
                }
                Ok((secret(seed::generate_mnemonic()?), true))
            }
            None => match seed::load_sealed(store).await? {
                Some(sealed) => Ok((seed::unseal(&sealed, self.passphrase.as_deref())?, false)),
                None => Err(Error::InvalidConfig(
                    "no seed is stored here: give seed.mnemonic".into(),
                )),
            },
        }
    }
}

/// The LSP, as `{ nodeId, address }` (`host:port`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LspConfig {
    /// Its node id, hex.
    pub node_id: String,
    /// Where it listens, `host:port`.
    pub address: String,
    /// The token it gave us (an API key or coupon), sent with LSPS2 requests.
    #[serde(default)]
    pub token: Option<String>,
}

/// The one configuration object JavaScript passes to `LightningNode.create` / `open`
/// (camelCase there). Unknown fields are refused, so a misspelt option is an
/// `INVALID_CONFIG` error rather than a silently ignored one.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeConfig {
    /// The network.
    pub network: Network,
    /// The Esplora REST API, `http(s)://…`.
    pub esplora_url: String,
    /// The WebSocket-to-TCP proxy, `ws(s)://…`; needed in a browser to reach peers.
    #[serde(default)]
    pub proxy_url: Option<String>,
    /// An LSP to use for inbound liquidity.
    #[serde(default)]
    pub lsp: Option<LspConfig>,
    /// Where state is kept.
    pub storage: StorageConfig,
    /// The seed; absent means "generate" (creation only).
    #[serde(default)]
    pub seed: SeedConfig,
    /// `"error" | "warn" | "info" | "debug" | "trace"`; default `"warn"`.
    #[serde(default)]
    pub log_level: Option<String>,
    /// Seconds between background syncs; default 30.
    #[serde(default)]
    pub sync_interval_secs: Option<u32>,
    /// Blocks a counterparty must wait for its own funds after it force-closes, on channels
    /// opened from now on: how long this node may stay offline and still punish a revoked
    /// commitment. Default 1008 (a week), 144 to 2016
    /// ([`Builder::set_our_to_self_delay`](crate::Builder::set_our_to_self_delay)).
    #[serde(default)]
    pub our_to_self_delay: Option<u16>,
    /// Anchor channels; default on
    /// ([`Builder::set_anchor_channels`](crate::Builder::set_anchor_channels)).
    #[serde(default)]
    pub anchor_channels: Option<bool>,
    /// Where the channel graph comes from: `Some(Some(url))` Rapid Gossip Sync from `url`,
    /// `Some(None)` (JavaScript `null`) P2P gossip from connected peers, `None` (absent) the
    /// network's default ([`GossipSource::default_for`](crate::GossipSource::default_for):
    /// RGS from LDK's servers on bitcoin and testnet, P2P on signet and regtest).
    #[serde(default, deserialize_with = "present")]
    pub rgs_url: Option<Option<String>>,
}

/// A field that is there, `null` included (`Some(None)`), as opposed to absent (`None`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    <Option<String> as serde::Deserialize>::deserialize(d).map(Some)
}

impl NodeConfig {
    /// A [`Builder`](crate::Builder) with everything but the store set; the caller opens
    /// the store ([`NodeConfig::storage`]) and passes it with `set_store`.
    pub fn builder(&self) -> Result<crate::Builder, Error> {
        if let StorageConfig::Memory { ephemeral: false } = self.storage {
            if self.network == Network::Bitcoin {
                return Err(Error::InvalidConfig(
                    "a bitcoin node in memory storage loses its channels' funds when the page \
                     goes: use { kind: \"indexeddb\" }, or { kind: \"memory\", ephemeral: true } \
                     for a node that never holds money"
                        .into(),
                ));
            }
        }
        let mut b = crate::Builder::new();
        b.set_network(self.network)
            .set_esplora_url(&self.esplora_url);
        if let Some(proxy) = &self.proxy_url {
            b.set_proxy_url(proxy);
        }
        if let Some(lsp) = &self.lsp {
            b.set_lsp(format!("{}@{}", lsp.node_id, lsp.address));
            if let Some(token) = &lsp.token {
                b.set_lsp_token(token);
            }
        }
        if let Some(words) = &self.seed.mnemonic {
            b.set_mnemonic(
                words.as_str(),
                self.seed.bip39_passphrase.clone().unwrap_or_default(),
            );
        }
        self.seed.protection()?;
        if let Some(level) = &self.log_level {
            b.set_log_level(parse_log_level(level)?);
        }
        if let Some(blocks) = self.our_to_self_delay {
            b.set_our_to_self_delay(blocks);
        }
        if let Some(anchors) = self.anchor_channels {
            b.set_anchor_channels(anchors);
        }
        match &self.rgs_url {
            Some(Some(url)) => {
                b.set_gossip_source_rgs(url.as_str());
            }
            Some(None) => {
                b.set_gossip_source_p2p();
            }
            None => {}
        }
        if let Some(secs) = self.sync_interval_secs {
            if secs == 0 {
                return Err(Error::InvalidConfig(
                    "syncIntervalSecs must be at least 1".into(),
                ));
            }
            b.set_sync_interval(core::time::Duration::from_secs(secs.into()));
        }
        Ok(b)
    }
}

fn parse_log_level(s: &str) -> Result<crate::LogLevel, Error> {
    use crate::LogLevel;
    Ok(match s {
        "error" => LogLevel::Error,
        "warn" => LogLevel::Warn,
        "info" => LogLevel::Info,
        "debug" => LogLevel::Debug,
        "trace" => LogLevel::Trace,
        other => {
            return Err(Error::InvalidConfig(format!(
                "unknown logLevel {other:?}: expected \"error\", \"warn\", \"info\", \"debug\" or \"trace\""
            )))
        }
    })
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

    fn parse(json: &str) -> Result<NodeConfig, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    const MINIMAL: &str =
        r#"{"network":"regtest","esploraUrl":"http://127.0.0.1:9","storage":{"kind":"memory"}}"#;

    #[test]
    fn node_config_defaults() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.network, Network::Regtest);
        assert_eq!(c.storage, StorageConfig::Memory { ephemeral: false });
        assert_eq!(c.storage.indexeddb_name(), None);
        assert_eq!(c.seed, SeedConfig::default());
        assert!(c.proxy_url.is_none() && c.lsp.is_none() && c.log_level.is_none());
        let c = parse(
            r#"{"network":"signet","esploraUrl":"https://e","proxyUrl":"wss://p",
                "storage":{"kind":"indexeddb"},"seed":{"mnemonic":"a b"},
                "lsp":{"nodeId":"02ab","address":"h:1"},"logLevel":"debug","syncIntervalSecs":5}"#,
        )
        .unwrap();
        assert_eq!(c.storage.indexeddb_name(), Some(DEFAULT_STORAGE_NAME));
        assert_eq!(c.seed.mnemonic.as_deref(), Some("a b"));
        assert_eq!(c.lsp.unwrap().address, "h:1");
        let c = parse(r#"{"network":"regtest","esploraUrl":"http://e","storage":{"kind":"indexeddb","name":"shop"}}"#)
            .unwrap();
        assert_eq!(c.storage.indexeddb_name(), Some("shop"));
    }

    #[test]
    fn rgs_url_absent_null_or_given() {
        let with = |field: &str| parse(&MINIMAL.replacen('{', &format!("{{{field},"), 1));
        assert_eq!(parse(MINIMAL).unwrap().rgs_url, None);
        assert_eq!(with(r#""rgsUrl":null"#).unwrap().rgs_url, Some(None));
        assert_eq!(
            with(r#""rgsUrl":"http://r/snapshot/""#).unwrap().rgs_url,
            Some(Some("http://r/snapshot/".into()))
        );
        assert!(with(r#""rgsUrl":5"#).is_err());
    }

    #[test]
    fn memory_storage_on_bitcoin_only_when_asked_for() {
        let on = |network: &str, storage: &str| {
            parse(&format!(
                r#"{{"network":"{network}","esploraUrl":"http://e","storage":{storage}}}"#
            ))
            .unwrap()
            .builder()
            .map(|_| ())
        };
        let err = on("bitcoin", r#"{"kind":"memory"}"#).unwrap_err();
        assert_eq!(err.code(), "INVALID_CONFIG");
        assert!(err.to_string().contains("ephemeral"), "{err}");
        on("bitcoin", r#"{"kind":"memory","ephemeral":true}"#).unwrap();
        on("bitcoin", r#"{"kind":"indexeddb"}"#).unwrap();
        on("regtest", r#"{"kind":"memory"}"#).unwrap();
    }

    #[test]
    fn node_config_refuses_unknown_and_missing_fields() {
        for (json, why) in [
            (
                r#"{"esploraUrl":"http://e","storage":{"kind":"memory"}}"#,
                "missing field `network`",
            ),
            (
                r#"{"network":"mainnet","esploraUrl":"http://e","storage":{"kind":"memory"}}"#,
                "unknown variant `mainnet`",
            ),
            (
                r#"{"network":"regtest","esploraURL":"http://e","storage":{"kind":"memory"}}"#,
                "unknown field `esploraURL`",
            ),
            (
                r#"{"network":"regtest","esploraUrl":"http://e","storage":{"kind":"localstorage"}}"#,
                "unknown variant `localstorage`",
            ),
            (
                r#"{"network":"regtest","esploraUrl":"http://e","storage":{"kind":"memory","name":"x"}}"#,
                "unknown field `name`",
            ),
            (
                r#"{"network":"regtest","esploraUrl":"http://e","storage":{"kind":"memory"},"seed":{"words":"x"}}"#,
                "unknown field `words`",
            ),
            (
                r#"{"network":"regtest","esploraUrl":"http://e","storage":{"kind":"memory"},"syncIntervalSecs":-1}"#,
                "invalid value",
            ),
        ] {
            let err = parse(json).unwrap_err();
            assert!(err.contains(why), "{json}: {err}");
        }
    }

    #[test]
    fn node_config_values_are_checked_when_building() {
        let with = |field: &str| {
            let json = MINIMAL.replacen('{', &format!("{{{field},"), 1);
            parse(&json).unwrap().builder().map(|_| ()).unwrap_err()
        };
        for field in [
            r#""logLevel":"loud""#,
            r#""syncIntervalSecs":0"#,
            r#""seed":{"passphrase":"x","storePlaintext":true}"#,
        ] {
            assert_eq!(with(field).code(), "INVALID_CONFIG", "{field}");
        }
        assert!(parse(MINIMAL).unwrap().builder().is_ok());
    }

    #[test]
    fn seed_resolves_from_config_or_storage() {
        use crate::io::test_utils::block_on;
        use crate::seed::{seal_with, store_sealed, KdfParams, Protection, SeedSecret};
        let store = crate::io::MemoryStore::new();
        let seed = |json: &str| -> SeedConfig { serde_json::from_str(json).unwrap() };
        let code = |r: Result<(SeedSecret, bool), Error>| r.map(|_| ()).unwrap_err().code();
        // Creating: generated, or the words given.
        let (new, generated) = block_on(seed("{}").resolve(&store, false)).unwrap();
        assert!(generated && new.bip39_passphrase.is_empty());
        let words = new.mnemonic.to_string();
        let given = seed(&format!(
            r#"{{"mnemonic":"{words}","bip39Passphrase":"x"}}"#
        ));
        let (again, generated) = block_on(given.resolve(&store, false)).unwrap();
        assert!(!generated);
        assert_eq!(
            (again.mnemonic.clone(), again.bip39_passphrase.as_str()),
            (new.mnemonic.clone(), "x")
        );
        assert_eq!(
            code(block_on(
                seed(r#"{"bip39Passphrase":"x"}"#).resolve(&store, false)
            )),
            "INVALID_CONFIG"
        );
        // Opening: nothing stored, then a sealed seed.
        assert_eq!(
            code(block_on(seed("{}").resolve(&store, true))),
            "INVALID_CONFIG"
        );
        let cheap = KdfParams {
            m_cost_kib: 64,
            t_cost: 1,
            p_cost: 1,
        };
        let sealed = seal_with(&new, Protection::Passphrase("pw"), cheap).unwrap();
        block_on(store_sealed(&store, sealed)).unwrap();
        let (opened, _) = block_on(seed(r#"{"passphrase":"pw"}"#).resolve(&store, true)).unwrap();
        assert_eq!(opened, new);
        assert_eq!(
            code(block_on(
                seed(r#"{"passphrase":"pv"}"#).resolve(&store, true)
            )),
            "WRONG_PASSPHRASE"
        );
        assert_eq!(
            code(block_on(seed("{}").resolve(&store, true))),
            "INVALID_CONFIG"
        );
        // How creation keeps it.
        assert!(seed("{}").protection().unwrap().is_none());
        assert!(matches!(
            seed(r#"{"passphrase":"pw"}"#).protection().unwrap(),
            Some(Protection::Passphrase("pw"))
        ));
        assert!(matches!(
            seed(r#"{"storePlaintext":true}"#).protection().unwrap(),
            Some(Protection::Plaintext)
        ));
    }

    #[test]
    fn seed_config_never_prints_the_words() {
        let c = parse(&MINIMAL.replacen(
            '{',
            r#"{"seed":{"mnemonic":"secret words","bip39Passphrase":"pw","passphrase":"hunter2"},"#,
            1,
        ))
        .unwrap();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("secret") && !shown.contains("pw\"") && !shown.contains("hunter2"),
            "{shown}"
        );
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
