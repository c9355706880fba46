//! How keys and values of a table are encoded: the one place that decides, from a table's
//! class, whether the codec is applied.

use std::borrow::Cow;

use txnchain_crypto::at_rest::TableCodec;

use crate::StorageError;
use crate::tables::{Class, Table};

/// The stored key of `parts` in `t`: the parts concatenated (public) or each part encoded by
/// the codec (confidential).
pub(crate) fn stored_key(codec: &dyn TableCodec, t: Table, parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.len() * 32);
    for part in parts {
        match t.class {
            Class::Public | Class::SealedByBlock => out.extend_from_slice(part),
            Class::Confidential => codec.key_part(t.name, part, &mut out),
        }
    }
    out
}

/// The stored form of a value under `key` (already stored form).
pub(crate) fn seal<'a>(
    codec: &dyn TableCodec,
    t: Table,
    key: &[u8],
    value: &'a [u8],
) -> Result<Cow<'a, [u8]>, StorageError> {
    match t.class {
        Class::Public => Ok(Cow::Borrowed(value)),
        Class::SealedByBlock | Class::Confidential => Ok(codec.seal(t.name, key, value)?),
    }
}

/// The plaintext of a value read from `key`.
pub(crate) fn open<'a>(
    codec: &dyn TableCodec,
    t: Table,
    key: &[u8],
    value: &'a [u8],
) -> Result<Cow<'a, [u8]>, StorageError> {
    match t.class {
        Class::Public => Ok(Cow::Borrowed(value)),
        Class::SealedByBlock | Class::Confidential => Ok(codec.open(t.name, key, value)?),
    }
}

/// The smallest key greater than every key starting with `prefix` (`None`: no bound).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn prefix_end_bounds_exactly_the_prefix() {
        assert_eq!(prefix_end(&[1, 2]), Some(vec![1, 3]));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
        let end = prefix_end(&[7, 0xff, 0xff]).unwrap();
        assert!([7u8, 0xff, 0xff, 0xff].as_slice() < end.as_slice());
        assert!([8u8].as_slice() >= end.as_slice());
    }
}
