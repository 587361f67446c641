//! Request bodies: a batch's `_bulk` NDJSON for a range of its records, compressed in one call.

use std::cell::RefCell;

use bytes::Bytes;

use super::config::Compression;
use crate::batch::Batch;

/// A built body: its bytes, its size before compression, its `Content-Encoding`.
#[derive(Clone, Debug)]
pub struct Body {
    /// The bytes to send.
    pub bytes: Bytes,
    /// Size before compression.
    pub raw_len: usize,
    /// `Content-Encoding`, if any.
    pub encoding: Option<&'static str>,
}

thread_local! {
    /// One zstd context per thread, kept between bodies (with the level it was set up for):
    /// setting up a context costs allocations that a 4 MiB body should not pay each time.
    static ZSTD: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { RefCell::new(None) };
    /// Where a body is compressed before it is copied out at its exact size: a compressor
    /// needs room for its worst case (a little more than the input), and a body kept at that
    /// capacity would hold several times its size while in flight.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A scratch buffer kept past this size is given back after use (a rare oversized record).
const SCRATCH_KEEP: usize = 64 << 20;

/// Run `compress` on this thread's scratch buffer, `bound` bytes of it (zeroed only where it
/// first grows), and return the `n` bytes it says it wrote as an exactly sized `Bytes`.
fn compressed(
    bound: usize,
    compress: impl FnOnce(&mut [u8]) -> std::io::Result<usize>,
) -> std::io::Result<Bytes> {
    SCRATCH.with(|cell| {
        let mut scratch = cell.borrow_mut();
        if scratch.len() < bound {
            scratch.resize(bound, 0);
        }
        let result = compress(&mut scratch[..bound]).map(|n| Bytes::copy_from_slice(&scratch[..n]));
        if scratch.len() > SCRATCH_KEEP {
            *scratch = Vec::new();
        }
        result
    })
}

/// `raw` as one zstd frame (content size included), with this thread's context.
fn zstd_frame(raw: &[u8], level: i32) -> std::io::Result<Bytes> {
    ZSTD.with(|cell| {
        let mut slot = cell.borrow_mut();
        if !matches!(slot.as_ref(), Some((l, _)) if *l == level) {
            *slot = Some((level, zstd::bulk::Compressor::new(level)?));
        }
        let (_, c) = slot.as_mut().expect("set just above");
        compressed(zstd::zstd_safe::compress_bound(raw.len()), |out| {
            c.compress_to_buffer(raw, out)
        })
    })
}

/// The most a gzip member of `len` bytes can take from ISA-L's stateless level 1: what does not
/// shrink goes out as stored blocks (5 bytes of header per 64 KiB block), after at most one
/// dynamic Huffman header and the gzip wrapper. Generous on purpose: an overflow would fail
/// the body, so the bound is also checked on incompressible input by a test.
fn gzip_bound(len: usize) -> usize {
    len + 5 * (len / 65_535 + 1) + 4096
}

/// `raw` as one gzip member, compressed in one stateless call by ISA-L's igzip at level 1.
/// Measured on this project's own `_bulk` bodies (`cargo bench --bench compress`) it runs 2.4–3.1×
/// as fast as libdeflate level 1 for bodies 2–6 % larger (x86_64; igzip has hand-written
/// kernels for aarch64 too). gzip is what released OpenObserve, which refuses zstd, gets, so
/// this is what most deployments send. (isal-rs allocates and zeroes igzip's 276 KiB level
/// buffer on each call; the figures include that.)
fn gzip_member(raw: &[u8]) -> std::io::Result<Bytes> {
    compressed(gzip_bound(raw.len()), |out| {
        isal::compress_into(raw, out, isal::CompressionLevel::One, isal::Codec::Gzip)
            .map_err(|e| std::io::Error::other(format!("gzip (ISA-L igzip): {e}")))
    })
}

/// Build the body for records `range` of `batch`.
///
/// The batch already holds the `_bulk` body (see [`Batch`]), so the range is one slice: zstd
/// compresses it in a single call, which is both faster than feeding a stream record by record
/// (no copy into the stream's window, no dictionary-continuation path) and copies no input;
/// only the compressed bytes are copied out of the scratch buffer, at their exact size.
pub fn bulk_body(
    batch: &Batch,
    range: std::ops::Range<usize>,
    compression: Compression,
    zstd_level: i32,
) -> std::io::Result<Body> {
    let raw = batch.body(range);
    let (bytes, encoding) = match compression {
        Compression::None => (Bytes::copy_from_slice(raw), None),
        Compression::Gzip => (gzip_member(raw)?, Some("gzip")),
        Compression::Zstd => (zstd_frame(raw, zstd_level)?, Some("zstd")),
    };
    Ok(Body {
        bytes,
        raw_len: raw.len(),
        encoding,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{BatchBuilder, BatchConfig};
    use std::io::Read;

    fn batch() -> Batch {
        let mut b = BatchBuilder::new("aurora \"x\"".into(), BatchConfig::default());
        for i in 0..3 {
            b.push(
                |d| d.extend_from_slice(format!("{{\"n\":{i}}}").as_bytes()),
                i,
            );
        }
        b.flush(3).unwrap()
    }

    #[test]
    fn every_encoding_round_trips_to_the_same_bulk_ndjson() {
        let b = batch();
        let plain = bulk_body(&b, 1..3, Compression::None, 1).unwrap();
        let expect = "{\"index\":{\"_index\":\"aurora \\\"x\\\"\"}}\n{\"n\":1}\n{\"index\":{\"_index\":\"aurora \\\"x\\\"\"}}\n{\"n\":2}\n";
        assert_eq!(std::str::from_utf8(&plain.bytes).unwrap(), expect);
        assert_eq!(plain.raw_len, expect.len());
        let gz = bulk_body(&b, 1..3, Compression::Gzip, 1).unwrap();
        let mut s = String::new();
        flate2::read::GzDecoder::new(&gz.bytes[..])
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, expect);
        // Compressed, not merely framed: a larger body of repeated records shrinks.
        let many = {
            let mut b = BatchBuilder::new("s".into(), BatchConfig::default());
            for i in 0..1000 {
                b.push(
                    |d| d.extend_from_slice(b"{\"message\":\"the same text\"}"),
                    i,
                );
            }
            b.flush(1000).unwrap()
        };
        let gz = bulk_body(&many, 0..1000, Compression::Gzip, 1).unwrap();
        assert!(
            gz.bytes.len() * 10 < gz.raw_len,
            "{} of {}",
            gz.bytes.len(),
            gz.raw_len
        );
        let zs = bulk_body(&b, 1..3, Compression::Zstd, 1).unwrap();
        assert_eq!(zstd::decode_all(&zs.bytes[..]).unwrap(), expect.as_bytes());
        assert_eq!(zs.encoding, Some("zstd"));
        assert_eq!(
            zstd::zstd_safe::get_frame_content_size(&zs.bytes).ok(),
            Some(Some(expect.len() as u64)),
            "the frame says its size"
        );
        // The thread's context follows a change of level.
        let zs3 = bulk_body(&b, 0..3, Compression::Zstd, 3).unwrap();
        let all = zstd::decode_all(&zs3.bytes[..]).unwrap();
        assert!(all.ends_with(expect.as_bytes()) && all.len() > expect.len());
        let zs1 = bulk_body(&b, 1..3, Compression::Zstd, 1).unwrap();
        assert_eq!(zs1.bytes, zs.bytes);
    }

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .expect("a valid gzip member");
        out
    }

    #[test]
    fn gzip_fits_its_bound_on_input_that_does_not_compress() {
        // Bytes from a xorshift generator: no repeats for deflate to find, so the member is
        // at its largest (stored blocks); sizes around the 64 KiB block edges and a body
        // past the batch bound.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let noise: Vec<u8> = (0..(5 << 20) + 3)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        for len in [0, 1, 65_534, 65_535, 65_536, 200_000, 4 << 20, noise.len()] {
            let raw = &noise[..len];
            let member = gzip_member(raw).unwrap_or_else(|e| panic!("{len} bytes: {e}"));
            assert!(member.len() <= gzip_bound(len), "{len}: {}", member.len());
            assert_eq!(gunzip(&member), raw, "{len} bytes round trip");
        }
        // Half noise, half text: the mixed case where a block's choice matters.
        let mut mixed = noise[..1 << 20].to_vec();
        mixed.extend(std::iter::repeat_n(&b"{\"sql\":\"select 1\"}\n"[..], 40_000).flatten());
        assert_eq!(gunzip(&gzip_member(&mixed).unwrap()), mixed);
    }
}
