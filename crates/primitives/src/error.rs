//! Errors raised while parsing or validating shared types.

/// An error from decoding or validating chain configuration, genesis or transactions.
#[derive(Debug, thiserror::Error)]
pub enum PrimitivesError {
    /// Genesis JSON could not be parsed or is inconsistent.
    #[error("invalid genesis: {0}")]
    Genesis(String),
    /// A fork name in the schedule is unknown.
    #[error("unknown fork {0:?} (supported: prague, osaka)")]
    UnknownFork(String),
    /// The dev mnemonic could not derive a key.
    #[error("key derivation failed: {0}")]
    KeyDerivation(String),
}
