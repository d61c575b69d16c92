//! Reading a request body within a limit, as it streams in: the count runs
//! over every chunk, so a chunked body with no `Content-Length` is stopped
//! at the limit (413) instead of read whole. Both components read every
//! body through this one helper.

use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("the body is over {0} bytes")]
    TooLarge(usize),
    #[error("the body could not be read: {0}")]
    Unreadable(String),
}

/// The whole body, or `TooLarge` as soon as more than `limit` bytes came
/// (or were announced by `Content-Length`, see `headers::declared_length`).
pub async fn read_limited<B>(body: B, limit: usize) -> Result<Bytes, BodyError>
where
    B: http_body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(BodyError::TooLarge(limit)),
        Err(e) => Err(BodyError::Unreadable(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::stream;
    use http_body::Frame;
    use http_body_util::StreamBody;

    fn chunked(
        chunks: usize,
        size: usize,
    ) -> impl http_body::Body<Data = Bytes, Error = std::convert::Infallible> {
        StreamBody::new(stream::iter(
            (0..chunks).map(move |_| Ok(Frame::data(Bytes::from(vec![b'x'; size])))),
        ))
    }

    fn block_on<F: Future>(future: F) -> F::Output {
        futures::executor::block_on(future)
    }

    #[test]
    fn bodies_within_the_limit_are_read_whole() {
        let body = block_on(read_limited(chunked(4, 256), 1024)).unwrap();
        assert_eq!(body.len(), 1024);
        assert_eq!(block_on(read_limited(chunked(0, 0), 0)).unwrap().len(), 0);
    }

    #[test]
    fn a_stream_past_the_limit_stops_there() {
        // A million chunks would take long to read whole: the limit stops
        // it at the second.
        let read = block_on(read_limited(chunked(1_000_000, 1024), 1024));
        assert_eq!(read, Err(BodyError::TooLarge(1024)));
        assert_eq!(
            block_on(read_limited(chunked(1, 1), 0)),
            Err(BodyError::TooLarge(0)),
            "a route that takes no body refuses any"
        );
    }
}
