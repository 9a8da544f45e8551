//! The node's one secret: a BIP39 mnemonic (24 English words). Everything else, the LDK node
//! keys and the on-chain wallet, is derived from its 64-byte BIP39 seed ([`crate::keys`]), so
//! the words alone restore the node's funds (DESIGN.md §1, "Seed").
//!
//! Encryption at rest is not here yet (DESIGN.md §1).
//!
//! ```
//! use wasm_ln::seed::{generate_mnemonic, parse_mnemonic};
//!
//! let m = generate_mnemonic()?;
//! assert_eq!(m.word_count(), 24);
//! let again = parse_mnemonic(&m.to_string())?;
//! assert_eq!(again.to_seed(""), m.to_seed(""));
//!
//! let err = parse_mnemonic("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon").unwrap_err();
//! assert_eq!(err.code(), "INVALID_CONFIG");
//! # Ok::<(), wasm_ln::Error>(())
//! ```

use core::fmt;

use crate::Error;

/// Words of a generated mnemonic.
pub const WORD_COUNT: usize = 24;

/// A valid BIP39 mnemonic (English word list). `Display` prints the words; `Debug` does not.
#[derive(Clone, PartialEq, Eq)]
pub struct Mnemonic(bip39::Mnemonic);

impl Mnemonic {
    /// The 64-byte BIP39 seed (PBKDF2-HMAC-SHA512, 2048 rounds) for `passphrase` (the BIP39
    /// "25th word"; `""` for none).
    pub fn to_seed(&self, passphrase: &str) -> [u8; 64] {
        self.0.to_seed(passphrase)
    }

    /// How many words.
    pub fn word_count(&self) -> usize {
        self.0.word_count()
    }
}

impl fmt::Display for Mnemonic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for Mnemonic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mnemonic({} words, redacted)", self.0.word_count())
    }
}

/// A new 24-word mnemonic from 256 bits of system entropy (`getrandom`: the browser's
/// `crypto.getRandomValues`, or the OS natively).
pub fn generate_mnemonic() -> Result<Mnemonic, Error> {
    let mut entropy = [0u8; 32];
    getrandom::getrandom(&mut entropy)
        .map_err(|e| Error::Internal(format!("no system randomness for the seed: {e}")))?;
    let m = bip39::Mnemonic::from_entropy(&entropy)
        .map_err(|e| Error::Internal(format!("mnemonic from entropy: {e}")))?;
    entropy.fill(0);
    Ok(Mnemonic(m))
}

/// Parses a mnemonic of 12, 15, 18, 21 or 24 English words (any case of whitespace, NFKD
/// normalised). An unknown word, a wrong word count or a bad checksum is
/// [`Error::InvalidConfig`].
pub fn parse_mnemonic(words: &str) -> Result<Mnemonic, Error> {
    let lower = words.to_lowercase();
    bip39::Mnemonic::parse(lower.as_str())
        .map(Mnemonic)
        .map_err(|e| {
            let why = match e {
                bip39::Error::BadWordCount(n) => {
                    format!("{n} words, expected 12, 15, 18, 21 or 24")
                }
                bip39::Error::UnknownWord(i) => format!("word {} is not a BIP39 word", i + 1),
                bip39::Error::InvalidChecksum => "bad checksum".to_owned(),
                other => other.to_string(),
            };
            Error::InvalidConfig(format!("invalid mnemonic: {why}"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABANDON: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

    #[test]
    fn bip39_test_vector() {
        // Trezor's BIP39 vector: entropy 0x00 * 16, passphrase "TREZOR".
        let m = parse_mnemonic(ABANDON).unwrap();
        let seed = m.to_seed("TREZOR");
        assert_eq!(
            lightning::bitcoin::hex::DisplayHex::to_lower_hex_string(&seed[..]),
            "c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e53495531f09a6987599d18264c1e1c92f2cf141630c7a3c4ab7c81b2f001698e7463b04"
        );
    }

    #[test]
    fn generated_mnemonics_are_24_words_and_differ() {
        let a = generate_mnemonic().unwrap();
        let b = generate_mnemonic().unwrap();
        assert_eq!(a.word_count(), WORD_COUNT);
        assert_ne!(a, b);
        assert_eq!(parse_mnemonic(&a.to_string()).unwrap(), a);
        assert!(!format!("{a:?}").contains(&a.to_string()));
    }

    #[test]
    fn bad_mnemonics_are_invalid_config() {
        let bad_checksum = ABANDON.replace("about", "abandon");
        let e = parse_mnemonic(&bad_checksum).unwrap_err();
        assert_eq!(e.code(), "INVALID_CONFIG");
        assert!(e.to_string().contains("bad checksum"), "{e}");
        let e = parse_mnemonic(&ABANDON.replace("about", "aboutt")).unwrap_err();
        assert_eq!(e.code(), "INVALID_CONFIG");
        assert!(e.to_string().contains("word 12"), "{e}");
        let e = parse_mnemonic("abandon about").unwrap_err();
        assert_eq!(e.code(), "INVALID_CONFIG");
        // Case and extra whitespace do not matter.
        let m = parse_mnemonic(&format!("  {}  ", ABANDON.to_uppercase())).unwrap();
        assert_eq!(m, parse_mnemonic(ABANDON).unwrap());
    }
}
