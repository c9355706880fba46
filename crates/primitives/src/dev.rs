//! Dev accounts derived from the standard test mnemonic, as anvil and hardhat do.

use alloy_signer_local::{MnemonicBuilder, PrivateKeySigner, coins_bip39::English};

use crate::PrimitivesError;

/// The standard test mnemonic used by anvil, hardhat and foundry.
pub const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";

/// Derives the key at `m/44'/60'/0'/0/{index}` of `mnemonic`.
pub fn derive_key(mnemonic: &str, index: u32) -> Result<PrivateKeySigner, PrimitivesError> {
    MnemonicBuilder::<English>::default()
        .phrase(mnemonic)
        .index(index)
        .map_err(|e| PrimitivesError::KeyDerivation(e.to_string()))?
        .build()
        .map_err(|e| PrimitivesError::KeyDerivation(e.to_string()))
}

/// Derives the first `count` dev keys.
pub fn dev_keys(mnemonic: &str, count: u32) -> Result<Vec<PrivateKeySigner>, PrimitivesError> {
    (0..count).map(|i| derive_key(mnemonic, i)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_anvil_accounts() {
        let keys = dev_keys(DEV_MNEMONIC, 2).unwrap();
        assert_eq!(
            keys[0].address().to_string(),
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        );
        assert_eq!(
            keys[1].address().to_string(),
            "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
        );
    }
}
