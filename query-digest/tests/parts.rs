//! Conformance of the parallel `digest`: every MySQL slow log and PostgreSQL stderr log of the
//! shared corpora, cut into 2 to 6 parts wherever [`query_digest::ranges`] finds clean
//! boundaries, gives the same report as one pass (classes, counts, times, examples).

#[path = "../../parsers/tests/common/mod.rs"]
mod common;

use std::io::Read;
use std::path::{Path, PathBuf};

use parsers::LogFormat;
use query_digest::{digest_one_pass, digest_parts, ranges, Digest};

const MAX_CLASSES: usize = 100_000;

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// The file's bytes, gunzipped if it is gzip (bzip2 files are left out: no decoder here).
fn plain_bytes(path: &Path) -> Option<Vec<u8>> {
    let raw = std::fs::read(path).ok()?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .ok()?;
        return Some(out);
    }
    (!raw.starts_with(b"BZh")).then_some(raw)
}

fn report(d: &Digest) -> serde_json::Value {
    d.to_json(MAX_CLASSES)
}

fn one_pass(path: &Path, format: LogFormat) -> Digest {
    let mut d = Digest::new(MAX_CLASSES);
    digest_one_pass(&mut d, path, format).unwrap();
    d
}

#[test]
fn every_corpus_log_digests_in_parts_like_in_one_pass() {
    let Some(root) = common::corpus(".") else {
        return;
    };
    let mut files = Vec::new();
    files_under(&root, &mut files);
    let dir = tempfile::tempdir().unwrap();
    let (mut checked, mut cut) = (Vec::new(), 0);
    for file in files {
        let Some(bytes) = plain_bytes(&file) else {
            continue;
        };
        let format = match parsers::detect_from_content(&bytes[..bytes.len().min(64 << 10)]) {
            Some(f @ (LogFormat::MysqlSlow | LogFormat::Postgresql)) => f,
            _ => continue,
        };
        let path = dir.path().join("input.log");
        std::fs::write(&path, &bytes).unwrap();
        let whole = report(&one_pass(&path, format));
        for n in 2..=6 {
            let Some(parts) = ranges(&path, format, n, 0).unwrap() else {
                continue;
            };
            let mut d = Digest::new(MAX_CLASSES);
            let joined =
                digest_parts(&mut d, &path, format, parts, || Digest::new(MAX_CLASSES)).unwrap();
            assert!(joined.is_some(), "{}: parts declined", file.display());
            assert_eq!(
                report(&d),
                whole,
                "{} ({format}) in {n} parts differs from one pass",
                file.display()
            );
            cut += 1;
        }
        checked.push(format!(
            "{} ({format})",
            file.strip_prefix(&root).unwrap().display()
        ));
    }
    let pg = checked
        .iter()
        .filter(|c| c.ends_with("(postgresql)"))
        .count();
    eprintln!(
        "{} corpus logs ({pg} PostgreSQL), {cut} cuttings",
        checked.len()
    );
    assert!(
        pg >= 10 && checked.len() - pg >= 5,
        "too few corpus logs: {checked:?}"
    );
    assert!(cut >= 40, "too few logs could be cut: {cut}");
}
