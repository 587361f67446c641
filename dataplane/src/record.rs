//! What the data plane adds to every parsed entry: a deterministic `record_id` and the
//! enrichment fields (where the entry came from), rendered once per file.

use bytes::BytesMut;
use parsers::json::write_json_string;
use parsers::Entry;

/// Where one file's entries come from: the enrichment every record of it carries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileContext {
    /// `DBClusterIdentifier`.
    pub cluster_id: String,
    /// `DBInstanceIdentifier`.
    pub instance_id: String,
    /// `aurora-mysql` or `aurora-postgresql`.
    pub engine: String,
    /// The engine version RDS reports.
    pub engine_version: String,
    /// The AWS region.
    pub region: String,
    /// The file's lasting name (see [`contract::file::canonical_name`]).
    pub log_file: String,
    /// Static tags from the configuration: lowercase snake_case keys (checked at config load).
    pub tags: Vec<(String, String)>,
    /// How many times the file was seen to start over under the same name (it shrank): 0
    /// normally. Above 0 it is part of the record ids and written as `log_generation`.
    pub generation: u32,
}

/// The `record_id` of the entry at byte `offset` of `log_file` on `instance_id`: 32 lowercase hex
/// digits of XXH3-128 over the three, so a record shipped twice (after a crash) has the same id.
pub fn record_id(instance_id: &str, log_file: &str, offset: u64) -> String {
    let mut hex = [0u8; 32];
    record_id_into(&mut hex, instance_id, log_file, offset);
    String::from_utf8(hex.to_vec()).expect("hex digits are ASCII")
}

/// [`record_id`] written into `out`.
fn record_id_into(out: &mut [u8; 32], instance_id: &str, log_file: &str, offset: u64) {
    let mut key = id_key_prefix(instance_id, log_file);
    key.extend_from_slice(&offset.to_le_bytes());
    id_hex(out, &key);
}

/// What a record id hashes before the offset: `instance \0 log_file \0`.
fn id_key_prefix(instance_id: &str, log_file: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(instance_id.len() + log_file.len() + 10);
    key.extend_from_slice(instance_id.as_bytes());
    key.push(0);
    key.extend_from_slice(log_file.as_bytes());
    key.push(0);
    key
}

/// 32 lowercase hex digits of XXH3-128 over `key`, in one call (the streaming hasher gives the
/// same digest for the same bytes, at several times the cost on keys this short).
fn id_hex(out: &mut [u8; 32], key: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let v = xxhash_rust::xxh3::xxh3_128(key);
    for (i, o) in out.iter_mut().enumerate() {
        *o = HEX[((v >> (124 - 4 * i)) & 0xf) as usize];
    }
}

/// The `record_id` of every entry of a whole file, as the data plane ships them: what a test or
/// the demo looks for at the other end. `name` and `last_written_ms` are as RDS lists the file.
pub fn file_record_ids(
    instance_id: &str,
    name: &str,
    last_written_ms: i64,
    data: &[u8],
) -> Vec<String> {
    let canonical = contract::file::canonical_name(name, last_written_ms);
    let Some(format) = parsers::detect_from_name(&canonical) else {
        return Vec::new();
    };
    let mut ids = Vec::new();
    let mut parser =
        parsers::LogParser::new(format, parsers::Limits::default()).with_fingerprints(false);
    let mut add = |e: &Entry<'_>| {
        ids.push(record_id(instance_id, &canonical, e.raw.offset));
        parsers::Flow::Continue
    };
    parser.feed(data, &mut add);
    parser.finish(&mut add);
    ids
}

/// The record ids of every entry of many files, given as `(instance, name, last_written_ms,
/// data)`.
pub fn files_record_ids<'a>(
    files: impl IntoIterator<Item = (&'a str, &'a str, i64, &'a [u8])>,
) -> std::collections::BTreeSet<String> {
    files
        .into_iter()
        .flat_map(|(instance, name, last_written_ms, data)| {
            file_record_ids(instance, name, last_written_ms, data)
        })
        .collect()
}

/// The file name that goes into record ids: a later generation of a file that started over gets
/// ids of its own.
pub fn id_file(log_file: &str, generation: u32) -> String {
    if generation == 0 {
        log_file.to_string()
    } else {
        format!("{log_file}#g{generation}")
    }
}

/// Writes the records of one file: the entry's own fields plus the file's enrichment.
#[derive(Debug)]
pub struct RecordEnricher {
    /// `instance \0 log_file \0`: the record id's hash input before the offset.
    id_key: Vec<u8>,
    /// `"record_id":"` + 32 hex + `",` + the static fields, rebuilt in place per record.
    extra: Vec<u8>,
}

/// Where the 32 hex digits of the id sit in `extra`.
const ID_AT: usize = b"\"record_id\":\"".len();

impl RecordEnricher {
    /// An enricher for the file `ctx` describes.
    pub fn new(ctx: &FileContext) -> RecordEnricher {
        let mut fields = BytesMut::new();
        let mut add = |k: &str, v: &str| {
            fields.extend_from_slice(b",");
            write_json_string(&mut fields, k.as_bytes());
            fields.extend_from_slice(b":");
            write_json_string(&mut fields, v.as_bytes());
        };
        add("engine", &ctx.engine);
        add("engine_version", &ctx.engine_version);
        add("cluster_id", &ctx.cluster_id);
        add("instance_id", &ctx.instance_id);
        add("region", &ctx.region);
        add("log_file", &ctx.log_file);
        for (k, v) in &ctx.tags {
            add(k, v);
        }
        if ctx.generation > 0 {
            fields.extend_from_slice(format!(",\"log_generation\":{}", ctx.generation).as_bytes());
        }
        let mut extra = Vec::with_capacity(ID_AT + 34 + fields.len());
        extra.extend_from_slice(b"\"record_id\":\"");
        extra.extend_from_slice(&[b'0'; 32]);
        extra.push(b'"');
        extra.extend_from_slice(&fields);
        RecordEnricher {
            id_key: id_key_prefix(&ctx.instance_id, &id_file(&ctx.log_file, ctx.generation)),
            extra,
        }
    }

    /// Append `entry`'s record (no newline) to `out`.
    pub fn write(&mut self, entry: &Entry<'_>, out: &mut BytesMut) {
        let id: &mut [u8; 32] = (&mut self.extra[ID_AT..ID_AT + 32])
            .try_into()
            .expect("the id slot is 32 bytes");
        let prefix = self.id_key.len();
        self.id_key
            .extend_from_slice(&entry.raw.offset.to_le_bytes());
        id_hex(id, &self.id_key);
        self.id_key.truncate(prefix);
        entry.write_record(out, &self.extra);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parsers::{LogFormat, LogParser};

    fn ctx() -> FileContext {
        FileContext {
            cluster_id: "c1".into(),
            instance_id: "i1".into(),
            engine: "aurora-mysql".into(),
            engine_version: "8.0.mysql_aurora.3.05.2".into(),
            region: "us-east-1".into(),
            log_file: "slowquery/mysql-slowquery.log.2024-01-04.09".into(),
            tags: vec![("team".into(), "db \"core\"".into())],
            generation: 0,
        }
    }

    #[test]
    fn records_carry_id_and_enrichment_as_valid_json() {
        let log = b"# Time: 2024-01-04T09:00:00.000001Z\n# User@Host: a[a] @ h [1.2.3.4]  Id: 7\n# Query_time: 1.5  Lock_time: 0.0 Rows_sent: 1  Rows_examined: 2\nSET timestamp=1704358800;\nselect 1;\n";
        let mut parser = LogParser::new(LogFormat::MysqlSlow, Default::default());
        let mut enricher = RecordEnricher::new(&ctx());
        let mut out = BytesMut::new();
        let mut n = 0;
        parser.feed(log, &mut |e: &Entry<'_>| {
            enricher.write(e, &mut out);
            n += 1;
            parsers::Flow::Continue
        });
        parser.finish(&mut |e: &Entry<'_>| {
            enricher.write(e, &mut out);
            n += 1;
            parsers::Flow::Continue
        });
        assert_eq!(n, 1);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["record_id"], record_id("i1", &ctx().log_file, 0));
        assert_eq!(v["cluster_id"], "c1");
        assert_eq!(v["team"], "db \"core\"");
        assert_eq!(v["log_file"], ctx().log_file);
        assert_eq!(v["query_time"], 1.5);
    }

    #[test]
    fn ids_are_the_hex_of_xxh3_128_over_the_three_parts() {
        let mut key = b"i1\0f\0".to_vec();
        key.extend_from_slice(&10u64.to_le_bytes());
        let want = format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&key));
        assert_eq!(record_id("i1", "f", 10), want);
    }

    #[test]
    fn ids_differ_by_each_part_and_are_stable() {
        let a = record_id("i1", "f", 10);
        assert_eq!(a, record_id("i1", "f", 10));
        assert_eq!(a.len(), 32);
        assert_ne!(a, record_id("i1", "f", 11));
        assert_ne!(a, record_id("i2", "f", 10));
        assert_ne!(a, record_id("i1", "g", 10));
        // The separator keeps ("ab","c") apart from ("a","bc").
        assert_ne!(record_id("ab", "c", 0), record_id("a", "bc", 0));
    }
}
