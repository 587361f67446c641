//! Parser throughput on large Aurora-like inputs from the simulator's generator, in MB/s of raw
//! log on one core. Each group also measures a baseline in the same run — counting the lines
//! with memchr, the least any line-oriented parser must do — so that figures taken on a shared,
//! noisy machine can be compared as ratios.
//!
//! Run: `cargo bench --bench parsers` (BENCHMARKS.md has the figures).

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use parsers::frame::{Framer, LineClassifier};
use parsers::{Entry, Flow, Limits, LogParser};
use simulator::{LogGenerator, LogKind};

/// Input size per kind: large enough to leave the caches, small enough to generate quickly.
const INPUT_BYTES: usize = 32 << 20;
/// Chunk size fed to the parser, as the data plane's downloads deliver.
const CHUNK: usize = 1 << 20;

fn input(kind: LogKind) -> Vec<u8> {
    let mut out = Vec::with_capacity(INPUT_BYTES + 4096);
    LogGenerator::new(kind, 1, 1_704_358_800_000_000).fill(&mut out, INPUT_BYTES);
    out
}

fn name(kind: LogKind) -> &'static str {
    parsers::LogFormat::from(kind).log_type()
}

/// Framed entries only: every entry's bytes and offset (what the streaming API hands out),
/// without reading any field.
fn framed<C: LineClassifier + Default>(data: &[u8]) -> u64 {
    let mut framer = Framer::new(Limits::DEFAULT_MAX_ENTRY_BYTES);
    let mut classifier = C::default();
    let mut n = 0u64;
    for chunk in data.chunks(CHUNK) {
        framer.feed(chunk, &mut classifier, |_, _| {
            n += 1;
            Flow::Continue
        });
    }
    framer.finish(&mut classifier, |_, _| {
        n += 1;
        Flow::Continue
    });
    n
}

fn framed_kind(kind: LogKind, data: &[u8]) -> u64 {
    use parsers::{mysql, postgres};
    match kind {
        LogKind::MysqlSlow => framed::<mysql::slow::Classifier>(data),
        LogKind::MysqlError => framed::<mysql::error::Classifier>(data),
        LogKind::MysqlGeneral => framed::<mysql::general::Classifier>(data),
        LogKind::MysqlAudit => framed::<mysql::audit::Classifier>(data),
        LogKind::Postgresql => framed::<postgres::stderr::Classifier>(data),
    }
}

/// Entries only: framing plus the typed parse of every field (fingerprints off).
fn entries(kind: LogKind, data: &[u8]) -> u64 {
    let mut parser =
        LogParser::new(parsers::LogFormat::from(kind), Limits::default()).with_fingerprints(false);
    let mut n = 0u64;
    let mut sink = |_: &Entry<'_>| {
        n += 1;
        Flow::Continue
    };
    for chunk in data.chunks(CHUNK) {
        parser.feed(chunk, &mut sink);
    }
    parser.finish(&mut sink);
    n
}

/// The whole record path: parse, fingerprint, JSON record into a reused buffer.
fn records(kind: LogKind, data: &[u8], out: &mut BytesMut) -> usize {
    let mut parser = LogParser::new(parsers::LogFormat::from(kind), Limits::default());
    let mut bytes = 0;
    let mut sink = |e: &Entry<'_>| {
        e.write_record(out, b"\"instance_id\":\"aurora-1\"");
        if out.len() > (4 << 20) {
            bytes += out.len();
            out.clear();
        }
        Flow::Continue
    };
    for chunk in data.chunks(CHUNK) {
        parser.feed(chunk, &mut sink);
    }
    parser.finish(&mut sink);
    bytes + out.len()
}

fn bench_kinds(c: &mut Criterion) {
    for kind in LogKind::ALL {
        let data = input(kind);
        let mut group = c.benchmark_group(name(kind));
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.sample_size(10);
        group.bench_function(BenchmarkId::new("baseline_memchr_lines", data.len()), |b| {
            b.iter(|| memchr::memchr_iter(b'\n', &data).count())
        });
        group.bench_function(BenchmarkId::new("framed", data.len()), |b| {
            b.iter(|| framed_kind(kind, &data))
        });
        group.bench_function(BenchmarkId::new("entries", data.len()), |b| {
            b.iter(|| entries(kind, &data))
        });
        let mut out = BytesMut::with_capacity(8 << 20);
        group.bench_function(BenchmarkId::new("records", data.len()), |b| {
            b.iter(|| {
                out.clear();
                records(kind, &data, &mut out)
            })
        });
        group.finish();
    }
}

fn bench_fingerprint(c: &mut Criterion) {
    let data = input(LogKind::MysqlSlow);
    let mut statements: Vec<Vec<u8>> = Vec::new();
    let mut parser = LogParser::new(parsers::LogFormat::MysqlSlow, Limits::default());
    let mut sink = |e: &Entry<'_>| {
        if let Some(q) = e.query_sample() {
            statements.push(q.statement.to_vec());
        }
        Flow::Continue
    };
    parser.feed(&data[..4 << 20], &mut sink);
    parser.finish(&mut sink);
    let total: usize = statements.iter().map(Vec::len).sum();
    let mut group = c.benchmark_group("fingerprint");
    group.throughput(Throughput::Bytes(total as u64));
    let mut out = Vec::new();
    group.bench_function("mysql", |b| {
        b.iter(|| {
            for s in &statements {
                parsers::fingerprint::mysql::fingerprint(s, &mut out);
            }
        })
    });
    group.bench_function("postgresql", |b| {
        b.iter(|| {
            for s in &statements {
                parsers::fingerprint::postgres::normalize(s, &mut out);
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench_kinds, bench_fingerprint);
criterion_main!(benches);
