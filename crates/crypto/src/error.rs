//! Errors of the crypto crate.

/// Why an envelope was refused. The `Display` text is the `<reason>` of the spec's
/// `invalid confidential envelope: <reason>`; it never contains plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Shorter than the fixed header (magic, version, epoch, encapsulated key, tag).
    #[error("envelope of {len} bytes is shorter than the {min}-byte minimum")]
    TooShort {
        /// Bytes given.
        len: usize,
        /// The minimum length.
        min: usize,
    },
    /// Does not start with the TxnChain magic.
    #[error("missing the TxnChain magic 0x0054584e")]
    NoMagic,
    /// A version byte this node does not know.
    #[error("unknown envelope version {0}")]
    UnknownVersion(u8),
    /// The epoch named by the envelope is outside the accepted window.
    #[error("epoch {epoch} is not accepted (current epoch {current}, oldest accepted {oldest})")]
    Epoch {
        /// The envelope's epoch.
        epoch: u64,
        /// The current epoch.
        current: u64,
        /// The oldest accepted epoch.
        oldest: u64,
    },
    /// The encapsulated key is not a valid X25519 public key.
    #[error("malformed encapsulated key")]
    BadEncappedKey,
    /// Authentication failed: wrong key, wrong binding (sender, recipient, nonce) or tampering.
    #[error("the envelope does not open")]
    DoesNotOpen,
    /// Empty calldata is never enveloped.
    #[error("empty plaintext is never enveloped")]
    EmptyPlaintext,
}

/// A stored value that could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The value is shorter than nonce and tag.
    #[error("sealed value in {table} of {len} bytes is truncated")]
    Truncated {
        /// The table.
        table: &'static str,
        /// Its length.
        len: usize,
    },
    /// Authentication failed: the value was tampered with, moved to another key or table, or
    /// sealed under another ledger secret.
    #[error("sealed value in {table} failed authentication")]
    Authentication {
        /// The table.
        table: &'static str,
    },
    /// The AEAD refused to seal (a value too large for the cipher).
    #[error("cannot seal a value of {len} bytes in {table}")]
    Seal {
        /// The table.
        table: &'static str,
        /// Its length.
        len: usize,
    },
}

/// Any other failure of the crypto crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// An envelope was refused.
    #[error("invalid confidential envelope: {0}")]
    Envelope(#[from] EnvelopeError),
    /// A sealed result did not open (wrong key or tampered bytes) or is malformed.
    #[error("sealed result: {0}")]
    SealedResult(&'static str),
    /// A key or signature of the wrong length or form.
    #[error("{what}: {reason}")]
    Key {
        /// Which key.
        what: &'static str,
        /// What was wrong.
        reason: &'static str,
    },
    /// An Ed25519 signature did not verify.
    #[error("{0}: signature does not verify")]
    BadSignature(&'static str),
    /// The operating system's random number generator failed.
    #[error("operating system RNG failed")]
    Rng,
}
