//! Reading a request or response body with a size limit and a deadline, so a client can
//! neither make the server buffer without bound nor hold a task by sending one byte a minute.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Longer than allowed.
    #[error("body too large (limit {limit} bytes)")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// Not complete within the deadline.
    #[error("body not received within {0:?}")]
    Timeout(Duration),
    /// The stream failed.
    #[error("reading the body failed: {0}")]
    Read(String),
}

/// Reads all of `body`, refusing more than `limit` bytes or a body that takes longer than
/// `timeout` to arrive. Memory grows with what was received, never with what was announced.
pub async fn read_limited<B>(body: B, limit: usize, timeout: Duration) -> Result<Bytes, BodyError>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let read = async move {
        let mut body = body;
        let mut buf = BytesMut::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| BodyError::Read(e.to_string()))?;
            if let Ok(data) = frame.into_data() {
                if buf.len().saturating_add(data.len()) > limit {
                    return Err(BodyError::TooLarge { limit });
                }
                buf.extend_from_slice(&data);
            }
        }
        Ok(buf.freeze())
    };
    tokio::time::timeout(timeout, read)
        .await
        .unwrap_or(Err(BodyError::Timeout(timeout)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{Full, StreamBody};

    #[tokio::test]
    async fn limits_size_and_time() {
        let ok = read_limited(
            Full::new(Bytes::from_static(b"hello")),
            5,
            Duration::from_secs(1),
        )
        .await;
        assert_eq!(ok.unwrap(), Bytes::from_static(b"hello"));
        let big = read_limited(
            Full::new(Bytes::from_static(b"hello!")),
            5,
            Duration::from_secs(1),
        )
        .await;
        assert_eq!(big.unwrap_err(), BodyError::TooLarge { limit: 5 });
        // A body that never ends.
        let stream = futures::stream::pending::<Result<http_body::Frame<Bytes>, std::io::Error>>();
        let slow = read_limited(StreamBody::new(stream), 5, Duration::from_millis(50)).await;
        assert_eq!(
            slow.unwrap_err(),
            BodyError::Timeout(Duration::from_millis(50))
        );
    }
}
