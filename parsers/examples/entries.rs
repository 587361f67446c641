//! Parse a file to entries only (no fingerprints, no JSON) and print the count: the "entries"
//! path of the benches, as a plain program for profilers (`perf`, `valgrind --tool=callgrind`).
//!
//! `cargo run --release -p parsers --example entries -- mysql-slow FILE [framed|entries|records]`

use parsers::{Entry, Flow, Limits, LogParser};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(format), Some(path)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: entries FORMAT FILE");
        std::process::exit(2);
    };
    let format = format.parse().unwrap_or_else(|e| panic!("{e}"));
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let level = args.get(3).map_or("entries", String::as_str);
    if level == "framed" {
        let mut framer = parsers::frame::Framer::new(Limits::DEFAULT_MAX_ENTRY_BYTES);
        let mut classifier = parsers::mysql::slow::Classifier::default();
        let mut n = 0u64;
        for chunk in data.chunks(1 << 20) {
            framer.feed(chunk, &mut classifier, |_, _| {
                n += 1;
                Flow::Continue
            });
        }
        println!("{n} framed slow log entries");
        return;
    }
    let mut parser =
        LogParser::new(format, Limits::default()).with_fingerprints(level == "records");
    let mut n = 0u64;
    let mut out = bytes::BytesMut::with_capacity(1 << 20);
    let mut sink = |e: &Entry<'_>| {
        n += 1;
        if level == "records" {
            e.write_record(&mut out, &[]);
            out.clear();
        }
        Flow::Continue
    };
    for chunk in data.chunks(1 << 20) {
        parser.feed(chunk, &mut sink);
    }
    parser.finish(&mut sink);
    println!("{n} entries");
}
