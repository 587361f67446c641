//! Numbers taken exactly from their decimal text: written to JSON as the log wrote them (no float
//! round trip), converted to integer micro- or nanoseconds for arithmetic.

use bytes::{BufMut, BytesMut};

/// A non-negative decimal number as written in a log: `digits[.digits]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decimal<'a> {
    int: &'a [u8],
    frac: &'a [u8],
}

impl<'a> Decimal<'a> {
    /// Parse `text` in full; `None` unless it is `digits` or `digits.digits` (at most 40 digits).
    pub fn parse(text: &'a [u8]) -> Option<Decimal<'a>> {
        // Log numbers are short: a byte loop, not memchr's setup.
        let (int, frac) = match text.iter().position(|&b| b == b'.') {
            Some(dot) => (&text[..dot], &text[dot + 1..]),
            None => (text, &text[text.len()..]),
        };
        let ok = !int.is_empty()
            && int.len() + frac.len() <= 40
            && int.iter().all(u8::is_ascii_digit)
            && frac.iter().all(u8::is_ascii_digit)
            && (!frac.is_empty() || text.last() != Some(&b'.'));
        ok.then_some(Decimal { int, frac })
    }

    /// The value scaled by 10^`scale` and truncated, or `None` if it does not fit in a u64.
    pub fn scaled(&self, scale: u32) -> Option<u64> {
        let mut v: u64 = 0;
        for &d in self.int {
            v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        }
        for i in 0..scale as usize {
            let d = self.frac.get(i).map_or(0, |d| d - b'0');
            v = v.checked_mul(10)?.checked_add(u64::from(d))?;
        }
        Some(v)
    }

    /// The value in millionths (seconds → µs, milliseconds → ns).
    pub fn micros(&self) -> Option<u64> {
        self.scaled(6)
    }

    /// The integer part, if the number has no fractional part and fits.
    pub fn as_u64(&self) -> Option<u64> {
        if self.frac.is_empty() {
            self.scaled(0)
        } else {
            None
        }
    }

    /// Write as a JSON number (leading zeros of the integer part dropped, as JSON requires).
    pub fn write_json(&self, buf: &mut BytesMut) {
        let first = self
            .int
            .iter()
            .position(|&d| d != b'0')
            .unwrap_or(self.int.len() - 1);
        buf.put_slice(&self.int[first..]);
        if !self.frac.is_empty() {
            buf.put_u8(b'.');
            buf.put_slice(self.frac);
        }
    }
}

/// `digits[.digits]` (the whole of `text`) in millionths, truncated: seconds → µs, ms → ns. One
/// pass, for the per-entry fields; [`Decimal`] keeps the text for writing.
#[inline]
pub fn parse_micros(text: &[u8]) -> Option<u64> {
    let mut v: u64 = 0;
    let mut frac_digits: Option<u32> = None;
    if text.first().is_none_or(|c| !c.is_ascii_digit()) || text.last() == Some(&b'.') {
        return None;
    }
    for &c in text {
        match c {
            b'0'..=b'9' => {
                if frac_digits == Some(6) {
                    continue; // beyond µs: truncated, still validated
                }
                v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
                if let Some(f) = frac_digits.as_mut() {
                    *f += 1;
                }
            }
            b'.' if frac_digits.is_none() => frac_digits = Some(0),
            _ => return None,
        }
    }
    v.checked_mul(10u64.pow(6 - frac_digits.unwrap_or(0)))
}

/// Parse an unsigned decimal integer that must make up all of `text`.
pub fn parse_u64(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &d in text {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(v)
}

/// Fast paths for the short numbers of log headers (`Rows_sent: 384`, `Query_time: 3.845809`):
/// a number token is read a word at a time instead of digit by digit. Each returns `None` when
/// the token is not of the simple shape it handles, and the caller then takes the general path
/// ([`parse_u64`], [`parse_micros`]), which stays the reference (property tests compare them).
const ONES: u64 = 0x0101_0101_0101_0101;

/// The first eight bytes of `s` as a little-endian word, padded with spaces (not digits).
#[inline]
pub(crate) fn word8(s: &[u8]) -> u64 {
    match s.first_chunk::<8>() {
        Some(w) => u64::from_le_bytes(*w),
        None => {
            let mut w = [b' '; 8];
            w[..s.len()].copy_from_slice(s);
            u64::from_le_bytes(w)
        }
    }
}

/// How many bytes of the word, from its first (lowest) one, are ASCII digits: 0 to 8.
#[inline]
pub(crate) fn digit_run(x: u64) -> usize {
    // Digits become 0..=9; a byte is flagged (bit 7) if it is above 9 or had bit 7 set. The
    // addition cannot carry between bytes: (a & 0x7f) + 0x76 <= 0xf5.
    let a = x ^ (ONES * u64::from(b'0'));
    let flagged = (((a & (ONES * 0x7f)) + ONES * 0x76) | a) & (ONES * 0x80);
    (flagged.trailing_zeros() / 8) as usize
}

/// The value of the first `n` (1 to 8) bytes of `x`, which are digits.
#[inline]
pub(crate) fn digits_value(x: u64, n: usize) -> u64 {
    debug_assert!((1..=8).contains(&n));
    // Digits to the top bytes (the first one most significant); the bytes below read as
    // leading zeros. Then pairs, quads and the octet are combined by multiply-and-shift.
    let x = (x & (ONES * 0x0f)) << (8 * (8 - n));
    let x = x.wrapping_mul(10 * 256 + 1) >> 8;
    let x = (x & 0x00ff_00ff_00ff_00ff).wrapping_mul(100 * 65_536 + 1) >> 16;
    (x & 0x0000_ffff_0000_ffff).wrapping_mul(10_000 * (1 << 32) + 1) >> 32
}

/// Whether a token ends before `s[i]` (a blank, or the end of `s`).
#[inline]
fn token_ends_at(s: &[u8], i: usize) -> bool {
    matches!(s.get(i), None | Some(b' ' | b'\t'))
}

/// `s` starts with a token (up to a space, a tab or the end) of 1 to 8 digits: (its length, its
/// value, as [`parse_u64`] reads the token).
#[inline]
pub(crate) fn leading_int(s: &[u8]) -> Option<(usize, u64)> {
    let x = word8(s);
    let n = digit_run(x);
    (n > 0 && token_ends_at(s, n)).then(|| (n, digits_value(x, n)))
}

/// `s` starts with a token of the form `D[.F]`, with 1 to 8 digits in each of `D` and `F`: (its
/// length, the value in millionths, as [`parse_micros`] reads the token).
#[inline]
pub(crate) fn leading_micros(s: &[u8]) -> Option<(usize, u64)> {
    const POW10: [u64; 7] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000];
    let x = word8(s);
    let n = digit_run(x);
    if n == 0 {
        return None;
    }
    let int = digits_value(x, n) * 1_000_000;
    if token_ends_at(s, n) {
        return Some((n, int));
    }
    if s[n] != b'.' {
        return None;
    }
    let f = &s[n + 1..];
    let y = word8(f);
    let m = digit_run(y);
    if m == 0 || !token_ends_at(f, m) {
        return None;
    }
    let frac = digits_value(y, m);
    // Beyond six digits the fraction is truncated, as `parse_micros` does.
    let us = if m <= 6 {
        frac * POW10[6 - m]
    } else {
        frac / POW10[m - 6]
    };
    Some((n + 1 + m, int + us))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_log_decimals_exactly() {
        let d = Decimal::parse(b"153.883481").unwrap();
        assert_eq!(d.micros(), Some(153_883_481));
        assert_eq!(Decimal::parse(b"2").unwrap().micros(), Some(2_000_000));
        assert_eq!(Decimal::parse(b"0.0000009").unwrap().micros(), Some(0));
        assert!(Decimal::parse(b"1.").is_none());
        assert!(Decimal::parse(b".5").is_none());
        assert!(Decimal::parse(b"-1").is_none());
        assert!(Decimal::parse(b"1e5").is_none());
        assert!(Decimal::parse(b"99999999999999999999")
            .unwrap()
            .micros()
            .is_none());
    }

    #[test]
    fn writes_valid_json_numbers() {
        for (text, want) in [("007.50", "7.50"), ("0", "0"), ("000", "0"), ("12", "12")] {
            let mut b = BytesMut::new();
            Decimal::parse(text.as_bytes()).unwrap().write_json(&mut b);
            assert_eq!(&b[..], want.as_bytes());
        }
    }

    /// The general path's reading of the token at the start of `s`: (token length, value).
    fn reference<T>(s: &[u8], parse: impl Fn(&[u8]) -> Option<T>) -> (usize, Option<T>) {
        let end = s
            .iter()
            .position(|&b| b == b' ' || b == b'\t')
            .unwrap_or(s.len());
        (end, parse(&s[..end]))
    }

    #[test]
    fn header_number_fast_paths() {
        for (text, int, micros) in [
            ("384  Rows_examined: 1", Some(384), Some(384_000_000)),
            ("1101309", Some(1_101_309), Some(1_101_309_000_000)),
            ("12345678\tx", Some(12_345_678), Some(12_345_678_000_000)),
            ("123456789", None, None),
            ("3.845809  Lock_time: 0.001406", None, Some(3_845_809)),
            ("0.000182", None, Some(182)),
            ("0.1234567891", None, None),
            ("1.12345678 x", None, Some(1_123_456)),
            ("1.", None, None),
            (".5", None, None),
            ("1x", None, None),
            ("", None, None),
            ("0", Some(0), Some(0)),
        ] {
            let s = text.as_bytes();
            assert_eq!(leading_int(s).map(|(_, v)| v), int, "{text}");
            assert_eq!(leading_micros(s).map(|(_, v)| v), micros, "{text}");
        }
    }

    proptest! {
        /// The one-pass reader agrees with the Decimal path on any text.
        #[test]
        fn parse_micros_agrees(text in "[0-9.]{0,12}|[0-9]{1,25}\\.[0-9]{0,9}") {
            let want = Decimal::parse(text.as_bytes()).and_then(|d| d.micros());
            prop_assert_eq!(parse_micros(text.as_bytes()), want, "{}", text);
        }

        /// The word-at-a-time readers agree with the general path wherever they answer.
        #[test]
        fn fast_paths_agree(text in "[0-9]{0,10}(\\.[0-9]{0,10})?[ \t:x]?[0-9 ]{0,3}|[0-9\\. \t]{0,12}|.{0,12}") {
            let s = text.as_bytes();
            if let Some((n, v)) = leading_int(s) {
                prop_assert_eq!((n, Some(v)), reference(s, parse_u64), "{}", text);
            }
            if let Some((n, v)) = leading_micros(s) {
                prop_assert_eq!((n, Some(v)), reference(s, parse_micros), "{}", text);
            }
            // And they answer for the common shapes.
            let (end, want) = reference(s, parse_micros);
            if want.is_some() && end <= 17 && !s[..end].contains(&b'.') && end <= 8 {
                prop_assert!(leading_micros(s).is_some(), "{}", text);
            }
        }

        /// Scaling agrees with a naive string computation, and the JSON text parses back equal.
        #[test]
        fn agrees_with_reference(int in 0u64..10_000_000, frac in "[0-9]{0,9}") {
            let text = if frac.is_empty() { int.to_string() } else { format!("{int}.{frac}") };
            let d = Decimal::parse(text.as_bytes()).unwrap();
            let padded = format!("{frac:0<6}");
            let want = int * 1_000_000 + padded[..6].parse::<u64>().unwrap();
            prop_assert_eq!(d.micros(), Some(want));
            let mut b = BytesMut::new();
            d.write_json(&mut b);
            let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
            prop_assert!(v.is_number());
        }
    }
}
