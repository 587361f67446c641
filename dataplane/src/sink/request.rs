//! Request bodies: `_bulk` NDJSON for a range of a batch's records, compressed on the fly.

use std::io::Write;

use bytes::Bytes;

use super::config::Compression;
use crate::batch::Batch;

/// The `_bulk` action line for `stream`.
fn action_line(stream: &str) -> Vec<u8> {
    let mut line = b"{\"index\":{\"_index\":".to_vec();
    serde_json::to_writer(&mut line, stream).expect("writing to a Vec cannot fail");
    line.extend_from_slice(b"}}\n");
    line
}

/// A built body: its bytes, its size before compression, its `Content-Encoding`.
#[derive(Debug)]
pub struct Body {
    /// The bytes to send.
    pub bytes: Bytes,
    /// Size before compression.
    pub raw_len: usize,
    /// `Content-Encoding`, if any.
    pub encoding: Option<&'static str>,
}

/// Build the body for records `range` of `batch`.
pub fn bulk_body(
    batch: &Batch,
    range: std::ops::Range<usize>,
    compression: Compression,
    zstd_level: i32,
) -> std::io::Result<Body> {
    let action = action_line(&batch.stream);
    let start = if range.start == 0 {
        0
    } else {
        batch.ends[range.start - 1] as usize
    };
    let end = batch.ends[range.end - 1] as usize;
    let raw_len = (end - start) + action.len() * range.len();
    let write_all = |w: &mut dyn Write| -> std::io::Result<()> {
        let mut at = start;
        for i in range.clone() {
            let e = batch.ends[i] as usize;
            w.write_all(&action)?;
            w.write_all(&batch.data[at..e])?;
            at = e;
        }
        Ok(())
    };
    let (bytes, encoding) = match compression {
        Compression::None => {
            let mut out = Vec::with_capacity(raw_len);
            write_all(&mut out)?;
            (out, None)
        }
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(
                Vec::with_capacity(raw_len / 6),
                flate2::Compression::fast(),
            );
            write_all(&mut enc)?;
            (enc.finish()?, Some("gzip"))
        }
        Compression::Zstd => {
            let mut enc = zstd::stream::Encoder::new(Vec::with_capacity(raw_len / 8), zstd_level)?;
            enc.include_contentsize(true)?;
            enc.set_pledged_src_size(Some(raw_len as u64))?;
            write_all(&mut enc)?;
            (enc.finish()?, Some("zstd"))
        }
    };
    Ok(Body {
        bytes: Bytes::from(bytes),
        raw_len,
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
        let zs = bulk_body(&b, 1..3, Compression::Zstd, 1).unwrap();
        assert_eq!(zstd::decode_all(&zs.bytes[..]).unwrap(), expect.as_bytes());
        assert_eq!(zs.encoding, Some("zstd"));
    }
}
