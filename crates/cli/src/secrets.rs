//! Secrets (private keys, bearer tokens) come from files or the environment, never from a
//! plain command-line argument: arguments land in shell history and are readable by every
//! local user through `ps` / `/proc/<pid>/cmdline`. What is read is zeroized once parsed, and
//! never echoed in errors or logs.

use std::path::Path;

use alloy_signer_local::PrivateKeySigner;
use anyhow::Context;
use zeroize::Zeroizing;

/// Reads a secret file; warns when other users can read it.
pub(crate) fn read_file(path: &Path) -> anyhow::Result<Zeroizing<String>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = std::fs::metadata(path)
            && m.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(file = %path.display(), "secret file is readable by other users; chmod 600 it");
        }
    }
    std::fs::read_to_string(path)
        .map(Zeroizing::new)
        .with_context(|| format!("reading {}", path.display()))
}

/// The secret from `file` when given, else from the environment variable `env` (if set).
pub(crate) fn from_file_or_env(
    file: Option<&Path>,
    env: &str,
) -> anyhow::Result<Option<Zeroizing<String>>> {
    match file {
        Some(path) => read_file(path).map(Some),
        None => Ok(std::env::var(env).ok().map(Zeroizing::new)),
    }
}

/// Non-empty entries of a secret list: one per line or comma-separated, `#` starts a comment.
pub(crate) fn entries(text: &str) -> impl Iterator<Item = &str> {
    text.split([',', '\n'])
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
}

/// Parses a hex private key without echoing it in errors.
pub(crate) fn parse_key(s: &str) -> anyhow::Result<PrivateKeySigner> {
    let s = Zeroizing::new(s.trim().to_string());
    s.parse::<PrivateKeySigner>()
        .map_err(|_| anyhow::anyhow!("invalid private key (expected 32 bytes hex)"))
}

/// Parses every key of a secret list; `source` names it in errors.
pub(crate) fn parse_keys(text: &str, source: &str) -> anyhow::Result<Vec<PrivateKeySigner>> {
    entries(text)
        .enumerate()
        .map(|(i, k)| parse_key(k).with_context(|| format!("{source}: key #{}", i + 1)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_from_lines_commas_and_comments() {
        let k1 = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
        let k2 = "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";
        let text = format!("# settlement keys\n{k1}\n\n  {k2} # second\n");
        assert_eq!(parse_keys(&text, "f").map(|v| v.len()).ok(), Some(2));
        assert_eq!(
            parse_keys(&format!("{k1},{k2}"), "env")
                .map(|v| v.len())
                .ok(),
            Some(2)
        );
        let err = parse_keys("0xnot-a-key", "f")
            .err()
            .map(|e| format!("{e:#}"));
        assert!(err.is_some_and(|e| !e.contains("not-a-key")));
    }
}
