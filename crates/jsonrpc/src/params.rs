//! Request parameters: positional access with geth's error messages.

use std::ops::Range;

use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::error::RpcError;

/// The `params` member of a request: absent (or `null`), an array, or an object.
///
/// Positional accessors reproduce geth's `-32602` messages exactly:
/// `missing value for required argument 0`, `invalid argument 0: <decode error>`,
/// `too many arguments, want at most 2` and, for object params, `non-array args`
/// (geth has no named parameters). geth reports the first problem in argument order,
/// so a handler that wants identical precedence reads its arguments in order and calls
/// [`Params::check_max`] last.
#[derive(Debug, Clone, Default)]
pub struct Params {
    raw: Option<Box<RawValue>>,
    kind: Kind,
}

/// Owned parameters as passed to handlers (the same type as [`Params`]).
pub type ParamsOwned = Params;

#[derive(Debug, Clone, Default)]
enum Kind {
    #[default]
    Absent,
    /// Byte ranges of the elements inside `raw`.
    Array(Vec<Range<usize>>),
    Object,
}

impl Params {
    /// No parameters.
    pub fn none() -> Self {
        Self::default()
    }

    /// Wrap raw `params` JSON. `None` and `null` mean "no parameters"; anything that is
    /// not an array or object is rejected with geth's `-32602 "non-array args"`.
    pub fn from_raw(raw: Option<Box<RawValue>>) -> Result<Self, RpcError> {
        let Some(raw) = raw else {
            return Ok(Self::none());
        };
        let text = raw.get();
        match text.as_bytes().first() {
            Some(b'n') => Ok(Self::none()),
            Some(b'{') => Ok(Self {
                raw: Some(raw),
                kind: Kind::Object,
            }),
            Some(b'[') => {
                let elems: Vec<&RawValue> = serde_json::from_str(text)
                    .map_err(|e| RpcError::invalid_params(strip_position(&e)))?;
                let base = text.as_ptr() as usize;
                let ranges = elems
                    .iter()
                    .map(|e| {
                        let start = e.get().as_ptr() as usize - base;
                        start..start + e.get().len()
                    })
                    .collect();
                Ok(Self {
                    raw: Some(raw),
                    kind: Kind::Array(ranges),
                })
            }
            _ => Err(non_array()),
        }
    }

    /// Parse params from JSON text (convenience for tests and callers).
    pub fn from_json(json: &str) -> Result<Self, RpcError> {
        let raw = RawValue::from_string(json.to_owned())
            .map_err(|e| RpcError::invalid_params(strip_position(&e)))?;
        Self::from_raw(Some(raw))
    }

    /// Number of positional parameters (0 when absent; 0 for object params).
    pub fn len(&self) -> usize {
        match &self.kind {
            Kind::Array(r) => r.len(),
            _ => 0,
        }
    }

    /// True when there are no positional parameters.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when the params are a JSON object (named parameters).
    pub fn is_object(&self) -> bool {
        matches!(self.kind, Kind::Object)
    }

    /// The raw `params` JSON, if present and not `null`.
    pub fn raw(&self) -> Option<&RawValue> {
        self.raw.as_deref()
    }

    /// Raw JSON text of positional parameter `idx`, if present.
    /// Object params give geth's `non-array args` error.
    pub fn get_raw(&self, idx: usize) -> Result<Option<&str>, RpcError> {
        match &self.kind {
            Kind::Absent => Ok(None),
            Kind::Object => Err(non_array()),
            Kind::Array(ranges) => Ok(ranges
                .get(idx)
                .and_then(|r| self.raw.as_ref().and_then(|raw| raw.get().get(r.clone())))),
        }
    }

    /// Positional parameter `idx`, which must be present and not `null`.
    pub fn required<T: DeserializeOwned>(&self, idx: usize) -> Result<T, RpcError> {
        match self.get_raw(idx)? {
            None | Some("null") => Err(missing(idx)),
            Some(text) => decode(text, idx),
        }
    }

    /// Positional parameter `idx`; absent or `null` gives `None`.
    pub fn optional<T: DeserializeOwned>(&self, idx: usize) -> Result<Option<T>, RpcError> {
        match self.get_raw(idx)? {
            None | Some("null") => Ok(None),
            Some(text) => decode(text, idx).map(Some),
        }
    }

    /// Fail with `too many arguments, want at most <max>` when more than `max`
    /// positional parameters were sent (object params: `non-array args`).
    pub fn check_max(&self, max: usize) -> Result<(), RpcError> {
        match &self.kind {
            Kind::Object => Err(non_array()),
            Kind::Array(r) if r.len() > max => Err(RpcError::invalid_params(format!(
                "too many arguments, want at most {max}"
            ))),
            _ => Ok(()),
        }
    }

    /// Decode the whole `params` value (array or object) into `T`; absent params decode
    /// from `null`. Errors are `-32602` with the decoder's message.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, RpcError> {
        let text = self.raw.as_deref().map_or("null", RawValue::get);
        serde_json::from_str(text).map_err(|e| RpcError::invalid_params(strip_position(&e)))
    }

    /// The subscription name of an `eth_subscribe`-style call (first positional
    /// parameter), with geth's errors: `non-array args` and
    /// `expected subscription name as first argument`.
    pub fn subscription_name(&self) -> Result<String, RpcError> {
        if !matches!(self.kind, Kind::Array(_)) {
            return Err(non_array());
        }
        match self.get_raw(0)? {
            Some(text) => serde_json::from_str::<String>(text).map_err(|_| expected_name()),
            None => Err(expected_name()),
        }
    }
}

fn decode<T: DeserializeOwned>(text: &str, idx: usize) -> Result<T, RpcError> {
    serde_json::from_str(text).map_err(|e| {
        RpcError::invalid_params(format!("invalid argument {idx}: {}", strip_position(&e)))
    })
}

fn missing(idx: usize) -> RpcError {
    RpcError::invalid_params(format!("missing value for required argument {idx}"))
}

fn non_array() -> RpcError {
    RpcError::invalid_params("non-array args")
}

fn expected_name() -> RpcError {
    RpcError::invalid_params("expected subscription name as first argument")
}

/// serde_json appends " at line L column C"; geth's messages carry no position.
fn strip_position(e: &serde_json::Error) -> String {
    let s = e.to_string();
    if let Some(pos) = s.rfind(" at line ") {
        let tail = &s[pos + " at line ".len()..];
        let mut parts = tail.split(" column ");
        let is_num = |p: Option<&str>| {
            p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        };
        if is_num(parts.next()) && is_num(parts.next()) && parts.next().is_none() {
            return s[..pos].to_owned();
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positional_messages_match_geth() {
        let p = Params::from_json(r#"["0x1", null, 3]"#).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p.required::<String>(0).unwrap(), "0x1");
        assert_eq!(
            p.required::<String>(1).unwrap_err().message,
            "missing value for required argument 1"
        );
        assert_eq!(p.optional::<String>(1).unwrap(), None);
        assert_eq!(
            p.required::<String>(2).unwrap_err().message,
            "invalid argument 2: invalid type: integer `3`, expected a string"
        );
        assert_eq!(
            p.required::<u8>(5).unwrap_err().message,
            "missing value for required argument 5"
        );
        assert_eq!(
            p.check_max(2).unwrap_err().message,
            "too many arguments, want at most 2"
        );
        assert!(p.check_max(3).is_ok());
    }

    #[test]
    fn object_and_absent() {
        let p = Params::from_json(r#"{"a":1}"#).unwrap();
        assert!(p.is_object());
        assert_eq!(p.required::<u8>(0).unwrap_err().message, "non-array args");
        #[derive(serde::Deserialize)]
        struct A {
            a: u8,
        }
        assert_eq!(p.parse::<A>().unwrap().a, 1);
        let p = Params::from_json("null").unwrap();
        assert!(p.is_empty() && p.raw().is_none());
        assert_eq!(Params::from_json("\"x\"").unwrap_err().code, -32602);
        assert_eq!(
            Params::from_json("5").unwrap_err().message,
            "non-array args"
        );
    }

    #[test]
    fn subscription_name() {
        let p = Params::from_json(r#"["newHeads"]"#).unwrap();
        assert_eq!(p.subscription_name().unwrap(), "newHeads");
        let p = Params::from_json(r#"[1]"#).unwrap();
        assert_eq!(
            p.subscription_name().unwrap_err().message,
            "expected subscription name as first argument"
        );
        assert_eq!(
            Params::none().subscription_name().unwrap_err().message,
            "non-array args"
        );
    }
}
