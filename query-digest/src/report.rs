//! The digest itself: timed queries grouped into classes by fingerprint and ranked by total
//! time.
//!
//! Memory is bounded: at most `max_classes` classes are kept (later fingerprints are counted in
//! one "other" class), each with a sparse log-scale histogram (buckets 5% wide, as
//! pt-query-digest's) for the 95th percentile, and an example capped at [`MAX_EXAMPLE_BYTES`].
//!
//! Sampled slow logs (Percona Server's `Log_slow_rate_limit`: one query or session in N is
//! logged) are reported as such: the rates seen and how many queries carried each. Counts and
//! totals are as logged, as pt-query-digest reports them, unless scaling is asked for
//! ([`Digest::scale_by_rate_limit`]): then each logged query counts N times, an estimate of what
//! ran (queries slower than Percona's `slow_query_log_always_write_time` are logged unsampled
//! yet still carry the rate).

use std::io::Write;

use parsers::fingerprint::fingerprint_id;
use parsers::time::format_rfc3339;
use parsers::QuerySample;
use serde_json::{json, Value};

/// Longest example query kept per class.
pub const MAX_EXAMPLE_BYTES: usize = 64 << 10;

/// The fingerprint of the class that collects everything past `max_classes`.
pub const OTHER_CLASS: &[u8] = b"(other classes beyond --max-classes)";

/// Distinct sampling rates (type and limit) the report lists; more are pooled in the last.
const MAX_RATES: usize = 16;

/// Bits of an entry's position that hold its offset in its file ([`Digest::begin_input`]).
const INPUT_SHIFT: u32 = 48;

/// Histogram bucket ratio (pt-query-digest uses 1.05 too) and its smallest value, 1 µs.
const BUCKET_BASE: f64 = 1.05;

/// Sum, extremes and distribution of one metric, in µs.
#[derive(Debug, Default, Clone)]
struct Metric {
    sum: u128,
    min: u64,
    max: u64,
    n: u64,
    /// Counts of buckets `first_bucket..first_bucket + counts.len()`: a window that grows to
    /// the range a class really spans (a few hundred buckets at most), no tree per value.
    first_bucket: u16,
    counts: Vec<u64>,
}

impl Metric {
    /// Count `v` as `weight` values (a sampled query stands for `weight` when scaling).
    fn add(&mut self, v: u64, weight: u64) {
        self.sum += u128::from(v) * u128::from(weight);
        self.min = if self.n == 0 { v } else { self.min.min(v) };
        self.max = self.max.max(v);
        self.n += weight;
        self.count_in_bucket(bucket(v), weight);
    }

    /// Add `count` to bucket `b`, growing the window to hold it.
    fn count_in_bucket(&mut self, b: u16, count: u64) {
        if self.counts.is_empty() {
            self.first_bucket = b;
        } else if b < self.first_bucket {
            let grow = usize::from(self.first_bucket - b);
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.first_bucket = b;
        }
        let i = usize::from(b - self.first_bucket);
        if i >= self.counts.len() {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] += count;
    }

    /// Fold `other` (the same metric over other queries) into this one.
    fn merge(&mut self, other: &Metric) {
        if other.n == 0 {
            return;
        }
        self.min = if self.n == 0 {
            other.min
        } else {
            self.min.min(other.min)
        };
        self.max = self.max.max(other.max);
        self.sum += other.sum;
        self.n += other.n;
        for (i, &count) in other.counts.iter().enumerate() {
            self.count_in_bucket(other.first_bucket + i as u16, count);
        }
    }

    /// The 95th percentile: the upper edge of the bucket holding it, never above the max.
    fn p95(&self) -> u64 {
        if self.n == 0 {
            return 0;
        }
        let rank = (self.n as f64 * 0.95).ceil() as u64;
        let mut seen = 0;
        for (i, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return bucket_upper(self.first_bucket + i as u16).min(self.max);
            }
        }
        self.max
    }

    fn json(&self) -> Value {
        let avg = if self.n == 0 {
            0.0
        } else {
            self.sum as f64 / self.n as f64 / 1e6
        };
        json!({
            "sum": secs(self.sum), "min": secs(u128::from(self.min)), "max": secs(u128::from(self.max)),
            "avg": avg, "p95": secs(u128::from(self.p95())),
        })
    }
}

/// The histogram bucket of `us`: 0 for 0 and 1 µs, else ⌊ln(us) / ln(1.05)⌋ + 1 as
/// [`bucket_by_log`] computes it, found in [`BUCKET_FLOORS`] (a logarithm per value was a
/// tenth of the MySQL digest's time on one core).
fn bucket(us: u64) -> u16 {
    if us <= 1 {
        return 0;
    }
    // Every step below 2^k is at most `us`, and none past the last bucket of 2^(k+1) - 1.
    let (floors, by_power) = &*BUCKET_FLOORS;
    let (lo, hi) = by_power[us.ilog2() as usize];
    let (lo, hi) = (usize::from(lo), usize::from(hi));
    (lo + floors[lo..hi].partition_point(|&floor| floor <= us)) as u16
}

/// The definition of [`bucket`], by floating-point logarithm.
fn bucket_by_log(us: u64) -> u16 {
    if us <= 1 {
        return 0;
    }
    ((us as f64).ln() / BUCKET_BASE.ln())
        .floor()
        .min(f64::from(u16::MAX)) as u16
        + 1
}

/// The steps of the histogram and where to look for a value's: `floors[b - 1]` is the least
/// value (≥ 2 µs) whose [`bucket_by_log`] is `b` or more, for every bucket up to that of
/// `u64::MAX`, found once from `bucket_by_log` itself so that [`bucket`] agrees with it on
/// every value; `by_power[k]` is the buckets of 2^k and of 2^(k+1) - 1 (about 15 apart).
type BucketSteps = (Vec<u64>, [(u16, u16); 64]);

static BUCKET_FLOORS: std::sync::LazyLock<BucketSteps> = std::sync::LazyLock::new(|| {
    let top = bucket_by_log(u64::MAX);
    let least_in = |b: u16, mut lo: u64, mut hi: u64| {
        // The least value in lo..=hi whose bucket is b or more (`bucket_by_log` never falls as
        // values grow, and hi's bucket is b or more).
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if bucket_by_log(mid) >= b {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo
    };
    let floors: Vec<u64> = (1..=top)
        .map(|b| {
            // Near 1.05^(b-1), up to the logarithm's rounding: search that window, and the
            // whole range if the window does not hold the step.
            let near = BUCKET_BASE.powi(i32::from(b) - 1);
            let lo = ((near * (1.0 - 1e-9)) as u64).saturating_sub(2).max(2);
            let hi = ((near * (1.0 + 1e-9)) as u64).saturating_add(2);
            let found = least_in(b, lo, hi);
            let is_step = bucket_by_log(found) >= b && (found == 2 || bucket_by_log(found - 1) < b);
            if is_step {
                found
            } else {
                least_in(b, 2, u64::MAX)
            }
        })
        .collect();
    let by_power = std::array::from_fn(|k| {
        let low = 1u64 << k;
        (bucket_by_log(low), bucket_by_log(low | (low - 1)))
    });
    (floors, by_power)
});

fn bucket_upper(b: u16) -> u64 {
    if b == 0 {
        return 1;
    }
    BUCKET_BASE.powi(i32::from(b)).ceil() as u64
}

fn secs(us: u128) -> f64 {
    us as f64 / 1e6
}

/// One class of queries.
#[derive(Debug, Clone)]
struct Class {
    id: [u8; 32],
    count: u64,
    query_time: Metric,
    lock_time: Metric,
    rows_sent: u64,
    rows_examined: u64,
    example: Vec<u8>,
    example_time: u64,
    /// Where the example is in the input ([`Digest::begin_input`]): of two equally slow
    /// executions the earlier is the example, in whichever order parts are merged.
    example_at: u64,
    first_seen: Option<i64>,
    last_seen: Option<i64>,
}

impl Class {
    fn merge(&mut self, other: Class) {
        self.count += other.count;
        self.query_time.merge(&other.query_time);
        self.lock_time.merge(&other.lock_time);
        self.rows_sent += other.rows_sent;
        self.rows_examined += other.rows_examined;
        if self.example.is_empty() || other.slower_or_earlier(self.example_time, self.example_at) {
            self.example = other.example;
            self.example_time = other.example_time;
            self.example_at = other.example_at;
        }
        self.first_seen = match (self.first_seen, other.first_seen) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_seen = match (self.last_seen, other.last_seen) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }

    fn new(fingerprint: &[u8]) -> Class {
        Class {
            id: fingerprint_id(fingerprint),
            count: 0,
            query_time: Metric::default(),
            lock_time: Metric::default(),
            rows_sent: 0,
            rows_examined: 0,
            example: Vec::new(),
            example_time: 0,
            example_at: 0,
            first_seen: None,
            last_seen: None,
        }
    }

    /// Whether this class's example beats one that took `time` at `at`: slower, or as slow
    /// and earlier.
    fn slower_or_earlier(&self, time: u64, at: u64) -> bool {
        (self.example_time, std::cmp::Reverse(self.example_at)) > (time, std::cmp::Reverse(at))
    }

    fn add(&mut self, q: &QuerySample<'_>, weight: u64, at: u64) {
        self.count += weight;
        self.query_time.add(q.query_time_us, weight);
        if let Some(l) = q.lock_time_us {
            self.lock_time.add(l, weight);
        }
        self.rows_sent += q.rows_sent.unwrap_or(0) * weight;
        self.rows_examined += q.rows_examined.unwrap_or(0) * weight;
        // The example is the slowest execution, as in pt-query-digest.
        if self.example.is_empty()
            || (q.query_time_us, std::cmp::Reverse(at))
                > (self.example_time, std::cmp::Reverse(self.example_at))
        {
            self.example.clear();
            self.example
                .extend_from_slice(&q.statement[..q.statement.len().min(MAX_EXAMPLE_BYTES)]);
            self.example_time = q.query_time_us;
            self.example_at = at;
        }
        if let Some(t) = q.timestamp_us {
            self.first_seen = Some(self.first_seen.map_or(t, |f| f.min(t)));
            self.last_seen = Some(self.last_seen.map_or(t, |l| l.max(t)));
        }
    }
}

/// The aggregation.
#[derive(Debug)]
pub struct Digest {
    classes: rustc_hash::FxHashMap<Vec<u8>, Class>,
    max_classes: usize,
    /// Entries seen that carried no timed query (errors, connections, …).
    pub untimed_entries: u64,
    /// Count a sampled query as many times as its rate limit says.
    scale: bool,
    /// Sampling rates seen: (type, limit, logged queries), at most [`MAX_RATES`].
    rates: Vec<(String, u64, u64)>,
    /// Added to an entry's offset to place it in the whole input ([`Digest::begin_input`]).
    input_base: u64,
}

impl Digest {
    /// An empty digest keeping at most `max_classes` classes.
    pub fn new(max_classes: usize) -> Digest {
        Digest {
            classes: rustc_hash::FxHashMap::default(),
            max_classes: max_classes.max(1),
            untimed_entries: 0,
            scale: false,
            rates: Vec::new(),
            input_base: 0,
        }
    }

    /// The entries added from now on are of input file `index` (0, 1, …): entries of a later
    /// file come after those of an earlier one, whatever their offsets.
    pub fn begin_input(&mut self, index: usize) {
        self.input_base = (index as u64) << INPUT_SHIFT;
    }

    /// Take entries of the same input as `other` ([`Digest::begin_input`]).
    pub(crate) fn same_input_as(&mut self, other: &Digest) {
        self.input_base = other.input_base;
    }

    /// Where the entry at `offset` of the current input stands in the whole input.
    pub fn position(&self, offset: u64) -> u64 {
        self.input_base | offset.min((1 << INPUT_SHIFT) - 1)
    }

    /// Count each query of a sampled slow log (`Log_slow_rate_limit: N`) N times, an estimate
    /// of what ran (off by default: counts as logged, as pt-query-digest reports them).
    pub fn scale_by_rate_limit(mut self, on: bool) -> Digest {
        self.scale = on;
        self
    }

    /// Remember that `n` logged queries carried this sampling rate.
    fn saw_rate(&mut self, kind: &str, limit: u64, n: u64) {
        if let Some(r) = self.rates.iter_mut().find(|r| r.0 == kind && r.1 == limit) {
            r.2 += n;
        } else if self.rates.len() < MAX_RATES {
            self.rates.push((kind.to_owned(), limit, n));
        } else if let Some(last) = self.rates.last_mut() {
            last.2 += n;
        }
    }

    /// Count one entry: its timed query, or as untimed.
    pub fn add_entry(&mut self, entry: &parsers::Entry<'_>) {
        match entry.query_sample() {
            Some(q) => self.add(&q, self.position(entry.offset())),
            None => self.untimed_entries += 1,
        }
    }

    /// Count one timed query, found at position `at` of the input ([`Digest::position`]).
    pub fn add(&mut self, q: &QuerySample<'_>, at: u64) {
        let mut weight = 1;
        if let Some(limit) = q.rate_limit.filter(|&l| l > 1) {
            let kind = q
                .rate_type
                .map_or("session".into(), String::from_utf8_lossy);
            // Percona's own words are short; anything longer is not one of them.
            let kind: String = kind.chars().take(32).collect();
            self.saw_rate(&kind, limit, 1);
            if self.scale {
                weight = limit;
            }
        }
        if let Some(class) = self.classes.get_mut(q.fingerprint) {
            return class.add(q, weight, at);
        }
        let key: &[u8] = if self.classes.len() < self.max_classes {
            q.fingerprint
        } else {
            OTHER_CLASS
        };
        self.classes
            .entry(key.to_vec())
            .or_insert_with(|| Class::new(key))
            .add(q, weight, at);
    }

    /// Fold a digest of other queries (another part of the same input) into this one; the
    /// class bound still holds.
    pub fn merge(&mut self, other: Digest) {
        self.untimed_entries += other.untimed_entries;
        for (kind, limit, n) in &other.rates {
            self.saw_rate(kind, *limit, *n);
        }
        for (fp, class) in other.classes {
            if let Some(mine) = self.classes.get_mut(&fp) {
                mine.merge(class);
            } else if self.classes.len() < self.max_classes {
                self.classes.insert(fp, class);
            } else {
                let other = self
                    .classes
                    .entry(OTHER_CLASS.to_vec())
                    .or_insert_with(|| Class::new(OTHER_CLASS));
                other.merge(class);
            }
        }
    }

    /// Classes ranked by total query time (then count, then fingerprint, for a stable order).
    fn ranked(&self) -> Vec<(&Vec<u8>, &Class)> {
        let mut v: Vec<_> = self.classes.iter().collect();
        v.sort_by(|a, b| {
            b.1.query_time
                .sum
                .cmp(&a.1.query_time.sum)
                .then(b.1.count.cmp(&a.1.count))
                .then(a.0.cmp(b.0))
        });
        v
    }

    fn totals(&self) -> (u64, u128) {
        self.classes
            .values()
            .fold((0, 0), |(n, t), c| (n + c.count, t + c.query_time.sum))
    }

    /// The report as JSON: `{"classes":[…], "summary":{…}}`.
    pub fn to_json(&self, limit: usize) -> Value {
        let classes: Vec<Value> = self
            .ranked()
            .into_iter()
            .take(limit)
            .map(|(fp, c)| {
                json!({
                    "fingerprint": String::from_utf8_lossy(fp),
                    "fingerprint_id": String::from_utf8_lossy(&c.id),
                    "count": c.count,
                    "query_time": c.query_time.json(),
                    "lock_time": c.lock_time.json(),
                    "rows_sent": {"sum": c.rows_sent},
                    "rows_examined": {"sum": c.rows_examined},
                    "example": String::from_utf8_lossy(&c.example),
                    "first_seen": c.first_seen.map(format_rfc3339),
                    "last_seen": c.last_seen.map(format_rfc3339),
                })
            })
            .collect();
        let (queries, total) = self.totals();
        json!({
            "classes": classes,
            "summary": {
                "queries": queries,
                "classes": self.classes.len(),
                "query_time_sum": secs(total),
                "untimed_entries": self.untimed_entries,
                "rate_limits": self.rates.iter().map(|(kind, limit, n)| json!({
                    "type": kind, "limit": limit, "logged_queries": n,
                })).collect::<Vec<_>>(),
                "scaled_by_rate_limit": self.scale && !self.rates.is_empty(),
            },
        })
    }

    /// The report as a readable table.
    pub fn write_table(&self, out: &mut dyn Write, limit: usize) -> std::io::Result<()> {
        let (queries, total) = self.totals();
        let first = self.classes.values().filter_map(|c| c.first_seen).min();
        let last = self.classes.values().filter_map(|c| c.last_seen).max();
        writeln!(
            out,
            "# {queries} queries in {} classes, {:.6} s total query time{}",
            self.classes.len(),
            secs(total),
            match (first, last) {
                (Some(f), Some(l)) => format!(", {} .. {}", format_rfc3339(f), format_rfc3339(l)),
                _ => String::new(),
            }
        )?;
        if !self.rates.is_empty() {
            let rates: Vec<String> = self
                .rates
                .iter()
                .map(|(kind, limit, n)| format!("{kind}:{limit} ({n} queries)"))
                .collect();
            writeln!(
                out,
                "# Rate limits apply (Log_slow_rate_limit): {}; {}",
                rates.join(", "),
                if self.scale {
                    "counts and totals scaled by the limit"
                } else {
                    "counts and totals as logged (--scale-by-rate-limit scales them)"
                }
            )?;
        }
        writeln!(out, "#")?;
        writeln!(
            out,
            "# {:>4} {:<34} {:>14} {:>6} {:>9} {:>10} {:>10} {:>10} {:>12}  Fingerprint",
            "Rank",
            "Query ID",
            "Total time (s)",
            "%",
            "Calls",
            "Avg (s)",
            "p95 (s)",
            "Max (s)",
            "Rows exam."
        )?;
        let ranked = self.ranked();
        write_ranking(out, &ranked, total, limit)?;
        for (rank, (fp, c)) in ranked.iter().take(limit).enumerate() {
            write_class(out, rank, fp, c)?;
        }
        Ok(())
    }
}

/// The ranking lines of the table: one per class, the first `limit`.
fn write_ranking(
    out: &mut dyn Write,
    ranked: &[(&Vec<u8>, &Class)],
    total: u128,
    limit: usize,
) -> std::io::Result<()> {
    for (rank, (fp, c)) in ranked.iter().take(limit).enumerate() {
        let pct = if total == 0 {
            0.0
        } else {
            c.query_time.sum as f64 * 100.0 / total as f64
        };
        writeln!(
            out,
            "# {:>4} 0x{:<32} {:>14.6} {:>5.1}% {:>9} {:>10.6} {:>10.6} {:>10.6} {:>12}  {}",
            rank + 1,
            String::from_utf8_lossy(&c.id),
            secs(c.query_time.sum),
            pct,
            c.count,
            secs(c.query_time.sum) / c.count.max(1) as f64,
            secs(u128::from(c.query_time.p95())),
            secs(u128::from(c.query_time.max)),
            c.rows_examined,
            one_line(fp, 80)
        )?;
    }
    if ranked.len() > limit {
        writeln!(
            out,
            "# … {} more classes (raise --limit to see them)",
            ranked.len() - limit
        )?;
    }
    Ok(())
}

/// One class's section of the table.
fn write_class(out: &mut dyn Write, rank: usize, fp: &[u8], c: &Class) -> std::io::Result<()> {
    writeln!(out)?;
    writeln!(
        out,
        "# Query {}: ID 0x{}, {} calls",
        rank + 1,
        String::from_utf8_lossy(&c.id),
        c.count
    )?;
    writeln!(
        out,
        "#   query time: total {:.6} s, min {:.6}, avg {:.6}, p95 {:.6}, max {:.6}",
        secs(c.query_time.sum),
        secs(u128::from(c.query_time.min)),
        secs(c.query_time.sum) / c.count.max(1) as f64,
        secs(u128::from(c.query_time.p95())),
        secs(u128::from(c.query_time.max))
    )?;
    if c.lock_time.n > 0 {
        writeln!(
            out,
            "#   lock time:  total {:.6} s, max {:.6}; rows sent {}, rows examined {}",
            secs(c.lock_time.sum),
            secs(u128::from(c.lock_time.max)),
            c.rows_sent,
            c.rows_examined
        )?;
    }
    if let (Some(f), Some(l)) = (c.first_seen, c.last_seen) {
        writeln!(
            out,
            "#   seen {} .. {}",
            format_rfc3339(f),
            format_rfc3339(l)
        )?;
    }
    writeln!(out, "#   fingerprint: {}", one_line(fp, 400))?;
    writeln!(out, "{}\\G", String::from_utf8_lossy(&c.example).trim_end())?;
    Ok(())
}

/// `text` on one line, cut at `max` characters.
fn one_line(text: &[u8], max: usize) -> String {
    let s: String = String::from_utf8_lossy(text)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if s.chars().count() > max {
        format!("{}…", s.chars().take(max).collect::<String>())
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample<'a>(fp: &'a [u8], stmt: &'a [u8], qt: u64, ts: i64) -> QuerySample<'a> {
        QuerySample {
            fingerprint: fp,
            statement: stmt,
            query_time_us: qt,
            lock_time_us: Some(1),
            rows_sent: Some(2),
            rows_examined: Some(3),
            rate_limit: None,
            rate_type: None,
            timestamp_us: Some(ts),
        }
    }

    #[test]
    fn the_bucket_table_agrees_with_the_logarithm_everywhere() {
        let floors = &BUCKET_FLOORS.0;
        assert_eq!(floors.len(), usize::from(bucket_by_log(u64::MAX)));
        assert!(floors.windows(2).all(|w| w[0] <= w[1]));
        // Every step, from both sides, and the ends.
        for &floor in floors {
            for v in [floor - 1, floor, floor + 1] {
                assert_eq!(bucket(v), bucket_by_log(v), "{v}");
            }
        }
        let powers = (0..64).flat_map(|k| [(1u64 << k) - 1, 1 << k, (1 << k) + 1]);
        for v in powers.chain([0, 1, 2, 3, 1_000_000, u64::MAX - 1, u64::MAX]) {
            assert_eq!(bucket(v), bucket_by_log(v), "{v}");
        }
        // And values spread over the whole range (a fixed-seed xorshift: reproducible).
        let mut x = 0x9E37_79B9_7F4A_7C15_u64;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = x >> (x % 64);
            assert_eq!(bucket(v), bucket_by_log(v), "{v}");
        }
        assert_eq!((bucket(1), bucket(2), bucket(3)), (0, 15, 23));
    }

    #[test]
    fn ranks_by_total_time_and_keeps_the_slowest_example() {
        let mut d = Digest::new(10);
        d.add(&sample(b"select ?", b"select 1", 100, 5), 0);
        d.add(&sample(b"select ?", b"select 2", 300, 1), 1);
        d.add(&sample(b"update t", b"update t", 250, 3), 2);
        let j = d.to_json(10);
        let classes = j["classes"].as_array().unwrap();
        assert_eq!(classes[0]["fingerprint"], "select ?");
        assert_eq!(classes[0]["count"], 2);
        assert_eq!(classes[0]["query_time"]["sum"], 0.0004);
        assert_eq!(classes[0]["query_time"]["max"], 0.0003);
        assert_eq!(classes[0]["example"], "select 2");
        assert_eq!(classes[0]["rows_examined"]["sum"], 6);
        assert_eq!(classes[0]["first_seen"], "1970-01-01T00:00:00.000001Z");
        assert_eq!(classes[0]["last_seen"], "1970-01-01T00:00:00.000005Z");
        assert_eq!(classes[1]["fingerprint"], "update t");
        assert_eq!(j["summary"]["queries"], 3);
        let mut table = Vec::new();
        d.write_table(&mut table, 10).unwrap();
        let table = String::from_utf8(table).unwrap();
        assert!(table.contains("3 queries in 2 classes"), "{table}");
    }

    #[test]
    fn merging_parts_in_any_order_equals_one_pass() {
        // Few distinct times, so equally slow executions with different text compete for the
        // example: the earlier one wins, whichever part is merged into which.
        let samples: Vec<(String, String, u64, i64)> = (0..500u64)
            .map(|i| {
                let fp = format!("q{}", i % 7);
                (format!("{fp} #{i}"), fp, (i * 7919) % 40 + 1, i as i64)
            })
            .collect();
        let add = |d: &mut Digest, part: &[(String, String, u64, i64)]| {
            for (stmt, fp, qt, ts) in part {
                d.add(
                    &sample(fp.as_bytes(), stmt.as_bytes(), *qt, *ts),
                    *ts as u64,
                );
            }
        };
        let mut whole = Digest::new(100);
        add(&mut whole, &samples);
        let (a, b) = samples.split_at(211);
        let parts = || {
            let (mut left, mut right) = (Digest::new(100), Digest::new(100));
            add(&mut left, a);
            add(&mut right, b);
            (left, right)
        };
        let (mut left, right) = parts();
        left.merge(right);
        assert_eq!(left.to_json(100), whole.to_json(100));
        let (left, mut right) = parts();
        right.merge(left);
        assert_eq!(right.to_json(100), whole.to_json(100));
    }

    #[test]
    fn classes_are_bounded() {
        let mut d = Digest::new(2);
        for i in 0..10u64 {
            let fp = format!("q{i}");
            d.add(&sample(fp.as_bytes(), b"x", 1, 0), i);
        }
        assert_eq!(d.classes.len(), 3);
        assert_eq!(d.classes[OTHER_CLASS].count, 8);
    }

    #[test]
    fn p95_is_within_a_bucket_of_the_truth() {
        let mut m = Metric::default();
        for v in 1..=1000u64 {
            m.add(v * 1000, 1);
        }
        let p = m.p95() as f64;
        assert!((p / 950_000.0 - 1.0).abs() < 0.06, "{p}");
        assert!(m.p95() <= m.max);
    }

    /// Digest of a whole input, parsed as `format`.
    fn digest_of(format: parsers::LogFormat, input: &[u8], scale: bool) -> Digest {
        let mut d = Digest::new(100).scale_by_rate_limit(scale);
        let mut parser = parsers::LogParser::new(format, parsers::Limits::default());
        let mut sink = |e: &parsers::Entry<'_>| {
            d.add_entry(e);
            parsers::Flow::Continue
        };
        parser.feed(input, &mut sink);
        parser.finish(&mut sink);
        d
    }

    /// auto_explain entries are timed queries with their fingerprint, as `duration: …
    /// statement:` entries are.
    #[test]
    fn auto_explain_entries_are_timed_queries() {
        let log = "2024-01-04 09:00:00 UTC:10.0.0.1(5432):app@shop:[7]:LOG:  duration: 1008.123 ms  plan:\n\
\tQuery Text: SELECT * FROM orders WHERE id = 42;\n\
\tSeq Scan on orders  (cost=0.00..35.50 rows=10 width=4)\n\
\t  Filter: (id = 42)\n\
2024-01-04 09:00:01 UTC:10.0.0.1(5432):app@shop:[8]:LOG:  duration: 2.500 ms  plan:\n\
\t{\n\
\t  \"Query Text\": \"SELECT * FROM orders WHERE id = 7;\",\n\
\t  \"Plan\": {\"Node Type\": \"Seq Scan\"}\n\
\t}\n\
2024-01-04 09:00:02 UTC:10.0.0.1(5432):app@shop:[9]:LOG:  duration: 0.500 ms  statement: SELECT * FROM orders WHERE id = 9;\n";
        let j = digest_of(parsers::LogFormat::Postgresql, log.as_bytes(), false).to_json(10);
        assert_eq!(j["summary"]["queries"], 3);
        assert_eq!(j["summary"]["untimed_entries"], 0);
        let classes = j["classes"].as_array().unwrap();
        assert_eq!(classes.len(), 1, "{j:#}");
        assert_eq!(
            classes[0]["fingerprint"],
            "SELECT * FROM orders WHERE id = $1;"
        );
        assert_eq!(classes[0]["query_time"]["sum"], 1.011123);
    }

    /// Percona's sampling: the rate is reported; counts are as logged unless scaled.
    #[test]
    fn sampled_slow_logs_report_and_optionally_scale() {
        let entry = |qt: &str| {
            format!("# User@Host: a[a] @  [10.0.0.1]\n# Query_time: {qt}  Lock_time: 0.000000  Rows_sent: 1  Rows_examined: 2\n# Log_slow_rate_type: query  Log_slow_rate_limit: 100\nSELECT 1;\n")
        };
        let log = format!("{}{}# User@Host: a[a] @  [10.0.0.1]\n# Query_time: 1.000000  Lock_time: 0.000000  Rows_sent: 1  Rows_examined: 2\nSELECT a FROM t;\n", entry("0.5"), entry("1.5"));
        let logged = digest_of(parsers::LogFormat::MysqlSlow, log.as_bytes(), false).to_json(10);
        assert_eq!(logged["summary"]["queries"], 3);
        assert_eq!(
            logged["summary"]["rate_limits"],
            json!([{"type": "query", "limit": 100, "logged_queries": 2}])
        );
        assert_eq!(logged["summary"]["scaled_by_rate_limit"], false);
        let scaled = digest_of(parsers::LogFormat::MysqlSlow, log.as_bytes(), true);
        let j = scaled.to_json(10);
        assert_eq!(j["summary"]["queries"], 201);
        assert_eq!(j["summary"]["scaled_by_rate_limit"], true);
        let c = &j["classes"][0];
        assert_eq!(c["fingerprint"], "select ?");
        assert_eq!(
            (c["count"].as_u64(), c["query_time"]["sum"].as_f64()),
            (Some(200), Some(200.0))
        );
        assert_eq!(
            (
                c["query_time"]["max"].as_f64(),
                c["rows_examined"]["sum"].as_u64()
            ),
            (Some(1.5), Some(400))
        );
        let mut table = Vec::new();
        scaled.write_table(&mut table, 10).unwrap();
        assert!(String::from_utf8(table).unwrap().contains("Rate limits apply (Log_slow_rate_limit): query:100 (2 queries); counts and totals scaled"));
    }
}
