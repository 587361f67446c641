//! Request body compression on the project's own `_bulk` bodies: the encoder the sink ships
//! with against the other DEFLATE encoders that build here for x86_64 and aarch64, and zstd.
//!
//! The bodies are what the data plane sends: records of the simulator's Aurora-like logs, with
//! the file's enrichment and record ids, behind their `_bulk` action lines, cut at the batch
//! bound (4 MiB). Throughput is MB/s of uncompressed body on one core; the size ratio of each
//! encoder is printed once per kind (compressed bytes / body bytes), since criterion reports
//! only time.
//!
//! Run: `cargo bench --bench compress` (BENCHMARKS.md has the figures).

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use dataplane::record::{FileContext, RecordEnricher};
use parsers::{Entry, Flow, Limits, LogParser};
use simulator::{LogGenerator, LogKind};
use sink::{BatchBuilder, BatchConfig, Compression};

/// Raw log per kind: a few bodies' worth, quick to generate.
const LOG_BYTES: usize = 24 << 20;

/// The `_bulk` bodies of `kind`'s records, one per full batch.
fn bodies(kind: LogKind) -> Vec<sink::Batch> {
    let mut log = Vec::with_capacity(LOG_BYTES + 4096);
    LogGenerator::new(kind, 1, 1_704_358_800_000_000).fill(&mut log, LOG_BYTES);
    let ctx = FileContext {
        cluster_id: "orders-prod".into(),
        instance_id: "orders-prod-instance-1".into(),
        engine: "aurora-mysql".into(),
        engine_version: "8.0.mysql_aurora.3.05.2".into(),
        region: "eu-west-1".into(),
        log_file: "slowquery/mysql-slowquery.log".into(),
        tags: vec![("team".into(), "payments".into())],
        generation: 0,
    };
    let mut enricher = RecordEnricher::new(&ctx);
    let mut builder = BatchBuilder::new("aurora_logs".into(), BatchConfig::default());
    let mut batches = Vec::new();
    let mut parser =
        LogParser::new(parsers::LogFormat::from(kind), Limits::default()).with_fingerprints(true);
    let mut on_entry = |e: &Entry<'_>| {
        let end = e.raw.offset + e.raw.text.len() as u64;
        batches.extend(builder.push(|out: &mut BytesMut| enricher.write(e, out), end));
        Flow::Continue
    };
    for chunk in log.chunks(1 << 20) {
        parser.feed(chunk, &mut on_entry);
    }
    parser.finish(&mut on_entry);
    batches
}

/// One encoder: compresses a body into `out` (sized for any encoder's worst case) and returns
/// the compressed length.
type Encode = Box<dyn FnMut(&[u8], &mut [u8]) -> usize>;

fn encoders() -> Vec<(&'static str, Encode)> {
    let mut libdeflate =
        libdeflater::Compressor::new(libdeflater::CompressionLvl::new(1).expect("level 1"));
    let zstd_at = |level: i32| {
        let mut c = zstd::bulk::Compressor::new(level).expect("a zstd context");
        Box::new(move |raw: &[u8], out: &mut [u8]| c.compress_to_buffer(raw, out).expect("zstd"))
            as Encode
    };
    let mut encoders: Vec<(&'static str, Encode)> = vec![
        (
            "igzip_1 (shipped)",
            Box::new(|raw: &[u8], out: &mut [u8]| {
                isal::compress_into(raw, out, isal::CompressionLevel::One, isal::Codec::Gzip)
                    .expect("igzip")
            }),
        ),
        (
            "igzip_0",
            Box::new(|raw: &[u8], out: &mut [u8]| {
                isal::compress_into(raw, out, isal::CompressionLevel::Zero, isal::Codec::Gzip)
                    .expect("igzip")
            }),
        ),
        (
            "igzip_3",
            Box::new(|raw: &[u8], out: &mut [u8]| {
                isal::compress_into(raw, out, isal::CompressionLevel::Three, isal::Codec::Gzip)
                    .expect("igzip")
            }),
        ),
        (
            "libdeflate_1",
            Box::new(move |raw: &[u8], out: &mut [u8]| {
                libdeflate.gzip_compress(raw, out).expect("libdeflate")
            }),
        ),
        (
            "zlib-rs_1",
            Box::new(|raw: &[u8], out: &mut [u8]| {
                let mut c = flate2::Compress::new(flate2::Compression::new(1), true);
                c.compress(raw, out, flate2::FlushCompress::Finish)
                    .expect("zlib-rs");
                c.total_out() as usize
            }),
        ),
    ];
    // zstd's level 1 (the sink's default) and its negative ("fast") levels, which trade size
    // for speed; `openobserve.zstd_level` takes any of them.
    for (name, level) in [
        ("zstd_1", 1),
        ("zstd_-1", -1),
        ("zstd_-3", -3),
        ("zstd_-5", -5),
    ] {
        encoders.push((name, zstd_at(level)));
    }
    encoders
}

fn bench(c: &mut Criterion) {
    for kind in [
        LogKind::MysqlSlow,
        LogKind::MysqlGeneral,
        LogKind::Postgresql,
    ] {
        let batches = bodies(kind);
        let raw: Vec<&[u8]> = batches.iter().map(|b| b.body(0..b.len())).collect();
        let total: usize = raw.iter().map(|b| b.len()).sum();
        let mut out = vec![0u8; raw.iter().map(|b| b.len()).max().unwrap_or(0) * 2 + 65_536];
        let name = parsers::LogFormat::from(kind).log_type();
        // The sink's own function gives the same bytes as the encoder it names.
        let shipped =
            sink::request::bulk_body(&batches[0], 0..batches[0].len(), Compression::Gzip, 1)
                .expect("the shipped gzip body");
        let mut group = c.benchmark_group(format!("compress/{name}"));
        group.throughput(Throughput::Bytes(total as u64));
        group.sample_size(10);
        for (encoder, mut encode) in encoders() {
            let size: usize = raw.iter().map(|b| encode(b, &mut out)).sum();
            if encoder.starts_with("igzip_1") {
                assert_eq!(encode(raw[0], &mut out), shipped.bytes.len());
            }
            eprintln!(
                "compress/{name}/{encoder}: {} bodies, {:.1} MB -> {:.1} MB, ratio {:.3}",
                raw.len(),
                total as f64 / 1e6,
                size as f64 / 1e6,
                size as f64 / total as f64
            );
            group.bench_function(BenchmarkId::from_parameter(encoder), |b| {
                b.iter(|| raw.iter().map(|body| encode(body, &mut out)).sum::<usize>())
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
