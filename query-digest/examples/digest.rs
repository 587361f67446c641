//! Digest a file on one thread and print the report's summary: the `digest --threads 1` path
//! without the binary's I/O choices, as a plain program for profilers (`perf`,
//! `valgrind --tool=callgrind`).
//!
//! `cargo run --release -p query-digest --example digest -- mysql-slow FILE`

use parsers::{Entry, Flow, Limits, LogParser};
use query_digest::Digest;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(format), Some(path)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: digest FORMAT FILE");
        std::process::exit(2);
    };
    let format = format.parse().unwrap_or_else(|e| panic!("{e}"));
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let mut digest = Digest::new(100_000);
    let mut parser = LogParser::new(format, Limits::default()).samples_only();
    let mut sink = |e: &Entry<'_>| {
        digest.add_entry(e);
        Flow::Continue
    };
    for chunk in data.chunks(1 << 20) {
        parser.feed(chunk, &mut sink);
    }
    parser.finish(&mut sink);
    println!("{}", digest.to_json(0)["summary"]);
}
