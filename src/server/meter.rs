//! An upload's byte meter: every byte of the request body is counted as it arrives, so
//! that neither the body nor its multipart framing (part headers, preamble, empty parts)
//! can outgrow a limit. The multipart parser buffers a part's headers until they end, with
//! no limit of its own: without the meter, one endless header would be held in memory.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use futures_util::StreamExt;

/// Bytes of a body that may be framing rather than field content. Generous: bytes the
/// parser has buffered but not yet handed out count as framing until it does, and a
/// loopback socket can hold a few MiB of them.
pub const MAX_FRAMING: u64 = 16 << 20;

/// Why the meter stopped a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Over `max_body_bytes`.
    TooLarge,
    /// More than [`MAX_FRAMING`] bytes that are not field content.
    Framing,
}

/// Counts a body's bytes and its fields' bytes; shared by the body stream and the reader.
#[derive(Debug, Default)]
pub struct Meter {
    total: AtomicU64,
    fields: AtomicU64,
    /// 0: none, 1: too large, 2: framing.
    refused: AtomicU8,
    /// Set once the upload is refused and its rest is being read through: what the
    /// parser skips of a refused field is then not framing, and the body ends at
    /// `drain_until` bytes instead.
    draining: AtomicBool,
    drain_until: AtomicU64,
}

impl Meter {
    /// Notes `n` bytes of field content handed to the reader.
    pub fn field_bytes(&self, n: u64) {
        self.fields.fetch_add(n, Ordering::Relaxed);
    }

    /// The body's bytes so far, framing included.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// The upload is refused and up to `more` bytes of its rest are read only to be
    /// dropped: framing is no longer counted, and the body ends past those bytes.
    pub fn drain(&self, more: u64) {
        self.drain_until
            .store(self.total().saturating_add(more), Ordering::Relaxed);
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Why the body was stopped, if it was.
    pub fn refusal(&self) -> Option<Refusal> {
        match self.refused.load(Ordering::Relaxed) {
            1 => Some(Refusal::TooLarge),
            2 => Some(Refusal::Framing),
            _ => None,
        }
    }

    /// Counts a chunk; an error ends the body.
    fn count(&self, n: u64, max_body: u64) -> Result<(), Refusal> {
        let total = self.total.fetch_add(n, Ordering::Relaxed) + n;
        let refusal = if total > max_body {
            Refusal::TooLarge
        } else if self.draining.load(Ordering::Relaxed) {
            if total <= self.drain_until.load(Ordering::Relaxed) {
                return Ok(());
            }
            Refusal::Framing
        } else if total.saturating_sub(self.fields.load(Ordering::Relaxed)) > MAX_FRAMING {
            Refusal::Framing
        } else {
            return Ok(());
        };
        let code = match refusal {
            Refusal::TooLarge => 1,
            Refusal::Framing => 2,
        };
        self.refused.store(code, Ordering::Relaxed);
        Err(refusal)
    }
}

/// The request with its body counted by `meter`, ending in an error past a limit.
pub fn metered(req: Request, meter: Arc<Meter>, max_body: u64) -> Request {
    let (parts, body) = req.into_parts();
    let stream = body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(std::io::Error::other)?;
        meter
            .count(chunk.len() as u64, max_body)
            .map_err(|r| std::io::Error::other(format!("{r:?}")))?;
        Ok::<_, std::io::Error>(chunk)
    });
    Request::from_parts(parts, Body::from_stream(stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_past_its_allowance_and_bodies_past_the_limit_are_refused() {
        let m = Meter::default();
        assert_eq!(m.count(MAX_FRAMING, u64::MAX), Ok(()));
        assert_eq!(m.count(1, u64::MAX), Err(Refusal::Framing));
        assert_eq!(m.refusal(), Some(Refusal::Framing));

        let m = Meter::default();
        m.field_bytes(100 << 20);
        assert_eq!(
            m.count(100 << 20, 200 << 20),
            Ok(()),
            "field bytes are not framing"
        );
        m.field_bytes(100 << 20);
        assert_eq!(m.count(100 << 20, 200 << 20), Ok(()));
        assert_eq!(m.count(1, 200 << 20), Err(Refusal::TooLarge));
        assert_eq!(m.refusal(), Some(Refusal::TooLarge));
    }
}
