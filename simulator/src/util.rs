//! Small helpers both servers share: a poison-tolerant lock, percent-decoding, and reading a
//! request body with a bound.

use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;

/// A mutex guard even after a panic elsewhere: the simulators' state is plain data (counters,
/// files, records) that stays usable, so a panicking test thread must not wedge the server.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `%XX` decoding: the bytes, and whether every `%` began a valid escape (a malformed one is
/// kept as written).
fn percent_decode_bytes(s: &str) -> (Vec<u8>, bool) {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16);
    let mut out = Vec::with_capacity(b.len());
    let mut well_formed = true;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            ) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
            well_formed = false;
        }
        out.push(b[i]);
        i += 1;
    }
    (out, well_formed)
}

/// Percent-decodes leniently: a malformed escape is kept as written, invalid UTF-8 replaced.
pub(crate) fn percent_decode_lossy(s: &str) -> String {
    String::from_utf8_lossy(&percent_decode_bytes(s).0).into_owned()
}

/// Percent-decodes strictly: `None` on a malformed escape or a result that is not UTF-8.
pub(crate) fn percent_decode_strict(s: &str) -> Option<String> {
    match percent_decode_bytes(s) {
        (bytes, true) => String::from_utf8(bytes).ok(),
        (_, false) => None,
    }
}

/// Why a bounded body read failed.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// More than the limit.
    TooLarge,
    /// The connection failed while reading.
    Read(String),
}

/// Reads a whole request body, never more than `limit` bytes.
pub(crate) async fn read_body_bounded(body: Incoming, limit: usize) -> Result<Bytes, BodyError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(BodyError::TooLarge),
        Err(e) => Err(BodyError::Read(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_lenient_and_strict() {
        assert_eq!(percent_decode_lossy("a%2Fb"), "a/b");
        assert_eq!(percent_decode_lossy("a%2"), "a%2");
        assert_eq!(percent_decode_lossy("%zz%"), "%zz%");
        assert_eq!(percent_decode_lossy("%e2%82%ac"), "€");
        assert_eq!(percent_decode_strict("a%2Fb%20c").as_deref(), Some("a/b c"));
        assert_eq!(percent_decode_strict("%e2%82%ac").as_deref(), Some("€"));
        for bad in ["a%2", "%zz", "%+f", "%", "%ff"] {
            assert_eq!(percent_decode_strict(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_poisoned_lock_still_locks() {
        let m = std::sync::Arc::new(Mutex::new(1));
        let m2 = std::sync::Arc::clone(&m);
        let _ = std::thread::spawn(move || {
            let _g = m2.lock().unwrap();
            panic!("poison it");
        })
        .join();
        assert!(m.is_poisoned());
        *lock(&m) += 1;
        assert_eq!(*lock(&m), 2);
    }
}
