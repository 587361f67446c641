//! What every parser fuzz target checks: no panic, every record valid JSON, and the same
//! records whatever the chunking (the input is parsed whole, then split at a point taken from
//! the input itself).

use bytes::BytesMut;
use parsers::{Entry, Flow, Limits, LogFormat, LogParser};

fn ndjson(format: LogFormat, chunks: &[&[u8]]) -> BytesMut {
    let mut out = BytesMut::new();
    // A small entry bound so that the cutting paths are exercised too.
    let mut parser = LogParser::new(format, Limits { max_entry_bytes: 2048 });
    let mut sink = |e: &Entry<'_>| {
        e.write_record(&mut out, b"\"instance_id\":\"i\"");
        out.extend_from_slice(b"\n");
        Flow::Continue
    };
    for c in chunks {
        parser.feed(c, &mut sink);
    }
    parser.finish(&mut sink);
    out
}

/// The check shared by the parser targets.
pub fn check_format(format: LogFormat, data: &[u8]) {
    let whole = ndjson(format, &[data]);
    for line in whole[..].split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        if let Err(e) = serde_json::from_slice::<serde_json::Value>(line) {
            panic!("invalid JSON record ({e}): {}", String::from_utf8_lossy(line));
        }
    }
    let cut = data.first().map_or(0, |&b| b as usize * data.len() / 256);
    let (a, b) = data.split_at(cut);
    let split = ndjson(format, &[a, b]);
    assert!(whole == split, "chunking at {cut} changed the records");
    let bytewise: Vec<&[u8]> = data.chunks(1).collect();
    if data.len() < 512 {
        assert!(whole == ndjson(format, &bytewise), "byte-by-byte feeding changed the records");
    }
}
