//! Timestamps of every log kind to integer microseconds since the Unix epoch (UTC).
//!
//! Hand-written because these few fixed layouts are the hot path of every parser and a general
//! date library would cost more than the parse itself; each function has a test against a
//! reference computed independently.

use crate::num::{digit_run, digits_value, word8};

/// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

const US_PER_SEC: i64 = 1_000_000;

fn digits(s: &[u8], at: usize, n: usize) -> Option<u32> {
    let part = s.get(at..at + n)?;
    let mut v = 0u32;
    for &c in part {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

fn civil_to_us(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<i64> {
    let valid = (1..=12).contains(&mo) && (1..=31).contains(&d) && h < 24 && mi < 60 && s <= 60;
    valid.then(|| {
        (days_from_civil(y, mo, d) * 86_400
            + i64::from(h) * 3600
            + i64::from(mi) * 60
            + i64::from(s))
            * US_PER_SEC
    })
}

/// Fractional seconds `.d…` at `at`: (microseconds, bytes consumed). More than six digits are
/// truncated; none is fine.
#[inline]
fn fraction(s: &[u8], at: usize) -> (i64, usize) {
    if s.get(at) != Some(&b'.') {
        return (0, 0);
    }
    // Up to seven digits (µs and a bit more) in one word; longer runs digit by digit.
    let x = word8(&s[at + 1..]);
    let n = digit_run(x);
    if n == 0 {
        return (0, 0);
    }
    if n < 8 {
        let kept = n.min(6);
        let us = digits_value(x, kept) * 10u64.pow((6 - kept) as u32);
        return (us as i64, n + 1);
    }
    let mut us = 0i64;
    let mut n = 0;
    while let Some(c) = s.get(at + 1 + n).filter(|c| c.is_ascii_digit()) {
        if n < 6 {
            us = us * 10 + i64::from(c - b'0');
        }
        n += 1;
    }
    (us, n + 1)
}

/// `YYYY-MM-DD[T ]HH:MM:SS[.ffffff][Z|±HH:MM|±HHMM|±HH]` at the start of `s`:
/// (µs UTC, bytes consumed). Without a zone the time is taken as UTC.
pub fn parse_iso(s: &[u8]) -> Option<(i64, usize)> {
    let minute_us = iso_minute(s.first_chunk::<19>()?)?;
    iso_rest(s, minute_us)
}

/// [`parse_iso`] for a stream of timestamps that mostly share their minute (a log's entries):
/// remembers the last `YYYY-MM-DD[T ]HH:MM:` prefix and its value, so that a timestamp in the
/// same minute only has its seconds, fraction and zone read.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct IsoMinuteCache {
    prefix: [u8; 17],
    /// µs of `prefix` (at zero seconds), once a valid prefix was seen.
    minute_us: Option<i64>,
}

impl IsoMinuteCache {
    /// Exactly what [`parse_iso`] returns for `s`.
    #[inline]
    pub(crate) fn parse_iso(&mut self, s: &[u8]) -> Option<(i64, usize)> {
        let head = s.first_chunk::<19>()?;
        let prefix = head.first_chunk::<17>()?;
        let minute_us = match self.minute_us {
            Some(us) if self.prefix == *prefix => us,
            _ => {
                let us = iso_minute(head)?;
                self.prefix = *prefix;
                self.minute_us = Some(us);
                us
            }
        };
        iso_rest(s, minute_us)
    }
}

/// The first 17 bytes of an ISO timestamp, `YYYY-MM-DD[T ]HH:MM:`, as µs (at zero seconds);
/// `None` unless the 19 bytes have the shape of one (the seconds' digits are [`iso_rest`]'s).
#[inline]
fn iso_minute(b: &[u8; 19]) -> Option<i64> {
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    // Every digit position at once (fixed indices: no bounds checks, one branch).
    let d = |i: usize| u32::from(b[i].wrapping_sub(b'0'));
    const DIGITS: [usize; 12] = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15];
    if DIGITS.iter().fold(0, |bad, &i| bad | u32::from(d(i) > 9)) != 0 {
        return None;
    }
    let two = |i: usize| d(i) * 10 + d(i + 1);
    let (y, mo, day, h, mi) = (two(0) * 100 + two(2), two(5), two(8), two(11), two(14));
    let valid = (1..=12).contains(&mo) && (1..=31).contains(&day) && h < 24 && mi < 60;
    valid.then(|| {
        (days_from_civil(i64::from(y), mo, day) * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60)
            * US_PER_SEC
    })
}

/// The rest of an ISO timestamp after its minute: `SS[.ffffff][zone]` from byte 17 of `s`.
#[inline]
fn iso_rest(s: &[u8], minute_us: i64) -> Option<(i64, usize)> {
    let (s1, s2) = (s[17].wrapping_sub(b'0'), s[18].wrapping_sub(b'0'));
    if s1 > 9 || s2 > 9 || s1 * 10 + s2 > 60 {
        return None;
    }
    let (frac, n) = fraction(s, 19);
    let mut at = 19 + n;
    let mut us = minute_us + i64::from(s1 * 10 + s2) * US_PER_SEC + frac;
    match s.get(at) {
        Some(b'Z') => at += 1,
        Some(&sign @ (b'+' | b'-')) if s.get(at + 1).is_some_and(u8::is_ascii_digit) => {
            let (off, n) = numeric_offset(&s[at + 1..])?;
            us -= if sign == b'+' { off } else { -off };
            at += 1 + n;
        }
        _ => {}
    }
    Some((us, at))
}

/// `HH[:MM]` or `HHMM` after a sign: (offset µs, bytes consumed).
fn numeric_offset(s: &[u8]) -> Option<(i64, usize)> {
    let h = digits(s, 0, 2)?;
    let (m, n) = if s.get(2) == Some(&b':') {
        (digits(s, 3, 2)?, 5)
    } else if let Some(m) = digits(s, 2, 2) {
        (m, 4)
    } else {
        (0, 2)
    };
    (h <= 14 && m < 60).then_some(((i64::from(h) * 3600 + i64::from(m) * 60) * US_PER_SEC, n))
}

/// The old MySQL form `yymmdd hh:mm:ss[.ffffff]` (hour may be space-padded or one digit) at the
/// start of `s`: (µs, bytes consumed). It is server local time with no zone; taken as UTC, which
/// is what Aurora and RDS run on. `yymmdd` means 20yy.
pub fn parse_mysql_old(s: &[u8]) -> Option<(i64, usize)> {
    let yy = digits(s, 0, 2)?;
    let mo = digits(s, 2, 2)?;
    let d = digits(s, 4, 2)?;
    let mut at = 6;
    if s.get(at) != Some(&b' ') {
        return None;
    }
    while s.get(at) == Some(&b' ') && at < 9 {
        at += 1;
    }
    let h = if s.get(at + 1) == Some(&b':') {
        let h = digits(s, at, 1)?;
        at += 1;
        h
    } else {
        let h = digits(s, at, 2)?;
        at += 2;
        h
    };
    if s.get(at) != Some(&b':') || s.get(at + 3) != Some(&b':') {
        return None;
    }
    let mi = digits(s, at + 1, 2)?;
    let sec = digits(s, at + 4, 2)?;
    at += 6;
    let base = civil_to_us(2000 + i64::from(yy), mo, d, h, mi, sec)?;
    let (frac, n) = fraction(s, at);
    Some((base + frac, at + n))
}

/// PostgreSQL's `%t`/`%m`: `YYYY-MM-DD HH:MM:SS[.mmm] ZONE` at the start of `s`, where ZONE is an
/// abbreviation (`UTC`, `CEST`, …) or a numeric offset (`+02`, `-0530`). Returns (µs UTC, bytes
/// consumed, zone known). An unknown abbreviation is taken as UTC and reported as unknown.
pub fn parse_pg(s: &[u8]) -> Option<(i64, usize, bool)> {
    if s.len() < 19 || s[10] != b' ' {
        return None;
    }
    let (us, n) = parse_iso(&s[..19 + fraction(s, 19).1])?;
    let rest = &s[n..];
    if rest.first() != Some(&b' ') {
        return Some((us, n, false));
    }
    let zone_len = rest[1..]
        .iter()
        .position(|c| !(c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'_')))
        .unwrap_or(rest.len() - 1);
    let zone = &rest[1..1 + zone_len];
    let consumed = n + 1 + zone_len;
    if let Some(&sign @ (b'+' | b'-')) = zone.first() {
        return match numeric_offset(&zone[1..]) {
            Some((off, _)) => Some((
                if sign == b'+' { us - off } else { us + off },
                consumed,
                true,
            )),
            None => Some((us, consumed, false)),
        };
    }
    match zone_offset_seconds(zone) {
        Some(off) => Some((us - off * US_PER_SEC, consumed, true)),
        None => Some((us, consumed, false)),
    }
}

/// Offsets of the time-zone abbreviations PostgreSQL writes in `%t` for common server zones.
/// Abbreviations are ambiguous in general; these are their usual meaning.
fn zone_offset_seconds(zone: &[u8]) -> Option<i64> {
    const H: i64 = 3600;
    Some(match zone {
        b"UTC" | b"GMT" | b"UCT" | b"Z" | b"WET" => 0,
        b"BST" | b"WEST" | b"CET" | b"MET" => H,
        b"CEST" | b"MEST" | b"EET" | b"SAST" => 2 * H,
        b"EEST" | b"MSK" | b"IDT" => 3 * H,
        b"IST" => 5 * H + 30 * 60,
        b"SGT" | b"HKT" | b"AWST" | b"PST8" => 8 * H,
        b"JST" | b"KST" => 9 * H,
        b"AEST" => 10 * H,
        b"AEDT" => 11 * H,
        b"NZST" => 12 * H,
        b"NZDT" => 13 * H,
        b"ADT" => -3 * H,
        b"AST" | b"EDT" => -4 * H,
        b"EST" | b"CDT" => -5 * H,
        b"CST" | b"MDT" => -6 * H,
        b"MST" | b"PDT" => -7 * H,
        b"PST" | b"AKDT" => -8 * H,
        b"AKST" => -9 * H,
        b"HST" => -10 * H,
        _ => return None,
    })
}

/// The civil date of a day count from 1970-01-01: (year, month, day). Inverse of
/// [`days_from_civil`].
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A UTC calendar time, broken down from µs since the epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CivilTime {
    /// Year.
    pub year: i64,
    /// Month, 1–12.
    pub month: u32,
    /// Day of the month, 1–31.
    pub day: u32,
    /// Hour, 0–23.
    pub hour: i64,
    /// Minute, 0–59.
    pub minute: i64,
    /// Second, 0–59.
    pub second: i64,
    /// Microseconds within the second.
    pub micros: i64,
}

impl CivilTime {
    /// The calendar time of `us` µs since the epoch, UTC.
    pub fn from_us(us: i64) -> CivilTime {
        let secs = us.div_euclid(US_PER_SEC);
        let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
        let sod = secs.rem_euclid(86_400);
        CivilTime {
            year,
            month,
            day,
            hour: sod / 3600,
            minute: sod / 60 % 60,
            second: sod % 60,
            micros: us.rem_euclid(US_PER_SEC),
        }
    }
}

/// µs since the epoch as RFC 3339 UTC with microseconds: `2019-03-24T14:04:53.714053Z`.
pub fn format_rfc3339(us: i64) -> String {
    let t = CivilTime::from_us(us);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second, t.micros
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Seconds since the epoch, counted day by day: the reference for `days_from_civil`.
    fn naive_days(y: i64, m: u32, d: u32) -> i64 {
        let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let mdays = |y: i64, m: u32| {
            [
                31,
                if leap(y) { 29 } else { 28 },
                31,
                30,
                31,
                30,
                31,
                31,
                30,
                31,
                30,
                31,
            ][m as usize - 1]
        };
        let mut days = 0i64;
        for yy in 1970..y {
            days += if leap(yy) { 366 } else { 365 };
        }
        for mm in 1..m {
            days += mdays(y, mm);
        }
        days + i64::from(d) - 1
    }

    #[test]
    fn civil_matches_naive_count() {
        for y in [1970, 1999, 2000, 2016, 2019, 2024, 2038, 2100] {
            for m in 1..=12 {
                for d in [1, 15, 28] {
                    assert_eq!(days_from_civil(y, m, d), naive_days(y, m, d), "{y}-{m}-{d}");
                }
            }
        }
    }

    #[test]
    fn formats_and_parses_back() {
        for us in [
            0i64,
            1_481_543_656_601_172,
            951_782_400_000_001,
            4_102_444_800_000_000,
        ] {
            let text = format_rfc3339(us);
            assert_eq!(parse_iso(text.as_bytes()).unwrap().0, us, "{text}");
        }
        assert_eq!(
            format_rfc3339(1_481_543_656_601_172),
            "2016-12-12T11:54:16.601172Z"
        );
    }

    /// The digit-by-digit reading `parse_iso` had before its fixed-index one: the reference.
    fn parse_iso_reference(s: &[u8]) -> Option<(i64, usize)> {
        if s.len() < 19
            || s[4] != b'-'
            || s[7] != b'-'
            || !matches!(s[10], b'T' | b' ')
            || s[13] != b':'
            || s[16] != b':'
        {
            return None;
        }
        let y = digits(s, 0, 4)?;
        let base = civil_to_us(
            i64::from(y),
            digits(s, 5, 2)?,
            digits(s, 8, 2)?,
            digits(s, 11, 2)?,
            digits(s, 14, 2)?,
            digits(s, 17, 2)?,
        )?;
        let (mut frac, mut n) = (0i64, 0usize);
        if s.get(19) == Some(&b'.') {
            while let Some(c) = s.get(20 + n).filter(|c| c.is_ascii_digit()) {
                if n < 6 {
                    frac = frac * 10 + i64::from(c - b'0');
                }
                n += 1;
            }
            if n > 0 {
                frac *= 10i64.pow(6u32.saturating_sub(n as u32));
                n += 1;
            }
        }
        let mut at = 19 + n;
        let mut us = base + frac;
        match s.get(at) {
            Some(b'Z') => at += 1,
            Some(&sign @ (b'+' | b'-')) if s.get(at + 1).is_some_and(u8::is_ascii_digit) => {
                let (off, n) = numeric_offset(&s[at + 1..])?;
                us -= if sign == b'+' { off } else { -off };
                at += 1 + n;
            }
            _ => {}
        }
        Some((us, at))
    }

    /// ISO-like timestamps, valid or nearly so, a few minutes apart.
    fn iso_like() -> impl Strategy<Value = String> {
        let minute = prop_oneof![
            Just("2024-01-04T09:00:"),
            Just("2024-01-04T09:01:"),
            Just("2024-01-04 09:01:"),
            Just("2024-02-30T23:59:"),
            Just("2024-13-04T09:00:"),
            Just("2024-01-04T24:00:"),
            Just("2024-01-0xT09:00:"),
        ];
        (
            minute,
            "[0-6][0-9]|6[01]|[0-9]?",
            "(\\.[0-9]{0,10})?",
            "(Z|[+-][0-9]{2}(:?[0-9]{2})?|x| .{0,3})?",
        )
            .prop_map(|(m, s, f, z)| format!("{m}{s}{f}{z}"))
    }

    proptest! {
        /// The fixed-index reading agrees with the digit-by-digit one.
        #[test]
        fn parse_iso_agrees_with_reference(text in prop_oneof![iso_like(), ".{0,30}"]) {
            prop_assert_eq!(parse_iso(text.as_bytes()), parse_iso_reference(text.as_bytes()), "{}", text);
        }

        /// The minute cache answers what `parse_iso` answers, whatever came before.
        #[test]
        fn minute_cache_agrees(texts in proptest::collection::vec(prop_oneof![4 => iso_like(), 1 => ".{0,30}"], 1..20)) {
            let mut cache = IsoMinuteCache::default();
            for t in &texts {
                prop_assert_eq!(cache.parse_iso(t.as_bytes()), parse_iso(t.as_bytes()), "{}", t);
            }
        }
    }

    #[test]
    fn iso_forms() {
        assert_eq!(
            parse_iso(b"2016-12-12T11:54:16.601172Z"),
            Some((1_481_543_656_601_172, 27))
        );
        assert_eq!(
            parse_iso(b"2018-08-07T16:27:47.169604+08:00").unwrap().0,
            1_533_630_467_169_604
        );
        assert_eq!(
            parse_iso(b"2019-10-16 17:24:15 0 [Note]").unwrap(),
            (1_571_246_655_000_000, 19)
        );
        assert_eq!(parse_iso(b"2019-13-16 17:24:15"), None);
        assert_eq!(parse_iso(b"margdl 11:48:27"), None);
    }

    #[test]
    fn old_mysql_forms_are_yymmdd() {
        // 180613 = 2018-06-13, not honeytail's mm-dd-yy reading.
        assert_eq!(
            parse_mysql_old(b"180613 11:04:36").unwrap().0,
            1_528_887_876_000_000
        );
        assert_eq!(
            parse_mysql_old(b"090127  1:23:34").unwrap(),
            (1_233_019_414_000_000, 15)
        );
        assert_eq!(
            parse_mysql_old(b"190227 9:46:00").unwrap().0,
            1_551_260_760_000_000
        );
        assert_eq!(
            parse_mysql_old(b"040116 00:31:09.817887").unwrap().0,
            1_074_213_069_817_887
        );
        assert_eq!(parse_mysql_old(b"2019-03-24"), None);
    }

    #[test]
    fn pg_forms() {
        assert_eq!(
            parse_pg(b"2022-10-05 22:05:52 UTC:x").unwrap(),
            (1_665_007_552_000_000, 23, true)
        );
        let (cest, _, known) = parse_pg(b"2017-04-08 21:56:03.362 CEST [891]").unwrap();
        assert!(known);
        assert_eq!(cest, 1_491_681_363_362_000);
        assert_eq!(
            parse_pg(b"2017-04-08 21:56:03 +02 x").unwrap().0,
            1_491_681_363_000_000
        );
        assert!(!parse_pg(b"2017-04-08 21:56:03 XYZT x").unwrap().2);
    }
}
