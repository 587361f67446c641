//! The one way tests reach the shared conformance corpora in `../shared/corpora` (never copied
//! into this repository). When the folder is absent — someone cloned the project alone — a test
//! that needs it is skipped with a notice; under `CI=true` that is a failure instead.
#![allow(dead_code)]

use std::path::PathBuf;

/// Root of the corpora: `$AURORA_LOGS_CORPORA`, else `../shared/corpora` from the workspace root
/// (this file is also included by tests of other packages: the root is looked up from the
/// including package's folder upwards).
pub fn corpora_root() -> PathBuf {
    if let Ok(dir) = std::env::var("AURORA_LOGS_CORPORA") {
        return PathBuf::from(dir);
    }
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .map(|dir| dir.join("../shared/corpora"))
        .find(|candidate| candidate.is_dir())
        .unwrap_or_else(|| manifest.join("../../shared/corpora"))
}

/// Path of a corpus file (relative to the corpora root), or `None` after printing why the test
/// is skipped. Panics under `CI=true`, where the corpora must be present.
pub fn corpus(rel: &str) -> Option<PathBuf> {
    let path = corpora_root().join(rel);
    if path.exists() {
        return Some(path);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("corpus file {} is missing and CI=true: the conformance corpora must be present (../shared/corpora)", path.display());
    }
    // Straight to stderr, past the test harness's capture, so the skip is seen.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: corpus file {} not found (clone the project beside shared/ to run conformance tests)",
        path.display()
    );
    None
}

/// Bytes of a corpus file (gunzipped/bunzipped is up to the caller), or `None` (skip).
pub fn corpus_bytes(rel: &str) -> Option<Vec<u8>> {
    corpus(rel)
        .map(|p| std::fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display())))
}

/// Parse `input` as `format`, returning the records as JSON values.
pub fn records(format: parsers::LogFormat, input: &[u8]) -> Vec<serde_json::Value> {
    let out = parsers::parse_to_ndjson(format, input);
    out[..]
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_slice(l).unwrap_or_else(|e| {
                panic!("record is not JSON ({e}): {}", String::from_utf8_lossy(l))
            })
        })
        .collect()
}

/// Parse `input` fed in chunks of `chunk` bytes and return the NDJSON text.
pub fn ndjson_chunked(format: parsers::LogFormat, input: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = bytes::BytesMut::new();
    let mut parser = parsers::LogParser::new(format, parsers::Limits::default());
    let mut sink = |e: &parsers::Entry<'_>| {
        e.write_record(&mut out, &[]);
        out.extend_from_slice(b"\n");
        parsers::Flow::Continue
    };
    for c in input.chunks(chunk.max(1)) {
        parser.feed(c, &mut sink);
    }
    parser.finish(&mut sink);
    out.to_vec()
}
