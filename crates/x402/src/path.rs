//! Request paths as the paywall prices them: one canonical spelling per resource.
//!
//! A price list keyed by the raw path is bypassed by every other spelling of the same
//! resource that the upstream server accepts: `//expensive`, `/%65xpensive`, `/./expensive`,
//! `/x/../expensive`. [`canonical`] turns a path into the one form the price list and the
//! upstream both see: escapes of unreserved characters decoded (RFC 3986 §6.2.2.2), the
//! remaining escapes upper-cased, empty segments collapsed, dot segments removed (§5.2.4).
//! What cannot be made canonical safely is refused: an escaped `/`, `\` or `%` (a server
//! that decodes them, or decodes twice, would see another path), a backslash, control
//! characters, a malformed escape, dot segments carrying `;` parameters (`..;/`, which some
//! servers treat as `..`), and `..` above the root.

use std::fmt;

/// Why a path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// `%` not followed by two hex digits.
    BadEscape,
    /// An escaped `/`, `\`, `%` or control character.
    EscapedSeparator,
    /// A backslash or a control character.
    BadCharacter,
    /// `..` above the root.
    AboveRoot,
    /// `.;…` or `..;…`.
    DotSegmentParameters,
    /// Not starting with `/`.
    NotAbsolute,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::BadEscape => "malformed percent-escape",
            PathError::EscapedSeparator => {
                "escaped '/', '\\', '%' or control characters are not accepted"
            }
            PathError::BadCharacter => "backslashes and control characters are not accepted",
            PathError::AboveRoot => "'..' above the root",
            PathError::DotSegmentParameters => "dot segments with ';' parameters",
            PathError::NotAbsolute => "the path must start with '/'",
        })
    }
}

impl std::error::Error for PathError {}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Decodes escapes of unreserved characters and upper-cases the rest, refusing what must
/// not be decoded.
fn normalize_escapes(path: &str) -> Result<String, PathError> {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut chars = path.char_indices();
    while let Some((i, c)) = chars.next() {
        if c == '%' {
            let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) else {
                return Err(PathError::BadEscape);
            };
            // The two hex digits are ASCII: skip them.
            chars.next();
            chars.next();
            let decoded = hi * 16 + lo;
            if decoded < 0x20 || matches!(decoded, b'/' | b'\\' | b'%' | 0x7f) {
                return Err(PathError::EscapedSeparator);
            }
            if is_unreserved(decoded) {
                out.push(decoded as char);
            } else {
                out.push('%');
                out.push_str(&format!("{decoded:02X}"));
            }
            continue;
        }
        if c == '\\' || c.is_control() {
            return Err(PathError::BadCharacter);
        }
        // Non-ASCII only arrives percent-encoded in an `http::Uri`; anything else passes
        // through as the character it is.
        out.push(c);
    }
    Ok(out)
}

/// The canonical form of an absolute request path (without the query). A trailing `/` is
/// kept (`/dir/` and `/dir` may be different resources).
pub fn canonical(path: &str) -> Result<String, PathError> {
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let normalized = normalize_escapes(path)?;
    let trailing = normalized.len() > 1 && normalized.ends_with('/');
    let mut segments: Vec<&str> = Vec::new();
    let parts: Vec<&str> = normalized.split('/').filter(|s| !s.is_empty()).collect();
    let last = parts.len();
    let mut ends_in_dir = trailing;
    for (i, seg) in parts.into_iter().enumerate() {
        let base = seg.split(';').next().unwrap_or(seg);
        if (base == "." || base == "..") && seg.contains(';') {
            return Err(PathError::DotSegmentParameters);
        }
        match seg {
            "." => {}
            ".." => {
                if segments.pop().is_none() {
                    return Err(PathError::AboveRoot);
                }
            }
            s => segments.push(s),
        }
        if i + 1 == last && (seg == "." || seg == "..") {
            // `/a/b/..` names the directory `/a/`.
            ends_in_dir = true;
        }
    }
    let mut out = String::with_capacity(normalized.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if out.is_empty() {
        return Ok("/".into());
    }
    if ends_in_dir {
        out.push('/');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_resource_is_one_path() {
        for p in [
            "/expensive",
            "//expensive",
            "/%65xpensive",
            "/%65%78pensive",
            "/./expensive",
            "/x/../expensive",
            "/x/y/../../expensive",
            "///./x//..//expensive",
        ] {
            assert_eq!(canonical(p).as_deref(), Ok("/expensive"), "{p}");
        }
        assert_eq!(canonical("/expensive/").as_deref(), Ok("/expensive/"));
        assert_eq!(canonical("/a/b/..").as_deref(), Ok("/a/"));
        assert_eq!(canonical("/").as_deref(), Ok("/"));
        assert_eq!(canonical("/.").as_deref(), Ok("/"));
        assert_eq!(canonical("/a%2b").as_deref(), Ok("/a%2B"));
        assert_eq!(canonical("/caf%c3%a9").as_deref(), Ok("/caf%C3%A9"));
        // Found by the fuzzer: raw non-ASCII must stay the same characters.
        assert_eq!(
            canonical("/x/./x\u{49a};pensi").as_deref(),
            Ok("/x/x\u{49a};pensi")
        );
    }

    #[test]
    fn what_cannot_be_canonical_is_refused() {
        assert_eq!(
            canonical("/x%2F..%2Fexpensive"),
            Err(PathError::EscapedSeparator)
        );
        assert_eq!(canonical("/x%2f"), Err(PathError::EscapedSeparator));
        assert_eq!(canonical("/x%5c"), Err(PathError::EscapedSeparator));
        assert_eq!(
            canonical("/%252e%252e/expensive"),
            Err(PathError::EscapedSeparator)
        );
        assert_eq!(canonical("/%00"), Err(PathError::EscapedSeparator));
        assert_eq!(canonical("/x\\..\\expensive"), Err(PathError::BadCharacter));
        assert_eq!(
            canonical("/x/..;/expensive"),
            Err(PathError::DotSegmentParameters)
        );
        assert_eq!(
            canonical("/.;x/expensive"),
            Err(PathError::DotSegmentParameters)
        );
        assert_eq!(canonical("/../expensive"), Err(PathError::AboveRoot));
        assert_eq!(canonical("/%zz"), Err(PathError::BadEscape));
        assert_eq!(canonical("/%4"), Err(PathError::BadEscape));
        assert_eq!(canonical("expensive"), Err(PathError::NotAbsolute));
        // Parameters on ordinary segments are kept.
        assert_eq!(canonical("/a;v=1/b").as_deref(), Ok("/a;v=1/b"));
    }

    #[test]
    fn canonical_is_idempotent() {
        for p in ["/a/b/", "/a%2Bb", "/", "/a;v=1", "/%7Euser/x"] {
            let once = canonical(p).unwrap();
            assert_eq!(canonical(&once).as_deref(), Ok(once.as_str()), "{p}");
        }
    }
}
