//! The header codec: JSON in standard base64 with `=` padding (URL-safe base64 is rejected,
//! as the reference decoder does).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::X402Error;

/// Encodes `value` as base64(JSON).
pub fn encode<T: Serialize>(value: &T) -> Result<String, X402Error> {
    let json = serde_json::to_vec(value).map_err(X402Error::json("encoding"))?;
    Ok(STANDARD.encode(json))
}

/// Decodes base64(JSON) into raw JSON.
pub fn decode_value(header: &str) -> Result<serde_json::Value, X402Error> {
    let bytes = STANDARD.decode(header.trim())?;
    serde_json::from_slice(&bytes).map_err(X402Error::json("header is not JSON"))
}

/// Decodes base64(JSON) into `T`.
pub fn decode<T: DeserializeOwned>(header: &str) -> Result<T, X402Error> {
    serde_json::from_value(decode_value(header)?).map_err(X402Error::json("header"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_padding() {
        let v = serde_json::json!({"a": "b?>"});
        let s = encode(&v).unwrap_or_default();
        assert!(s.ends_with('='), "{s}");
        assert_eq!(decode_value(&s).ok(), Some(v));
        assert_eq!(s, "eyJhIjoiYj8+In0=");
        // URL-safe alphabet and missing padding are rejected.
        assert!(decode_value("eyJhIjoiYj8-In0=").is_err());
        assert!(decode_value("eyJhIjoiYj8+In0").is_err());
        assert!(decode_value("!!!").is_err());
        assert!(decode_value("bm90IGpzb24=").is_err());
    }
}
