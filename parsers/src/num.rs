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

    proptest! {
        /// The one-pass reader agrees with the Decimal path on any text.
        #[test]
        fn parse_micros_agrees(text in "[0-9.]{0,12}|[0-9]{1,25}\\.[0-9]{0,9}") {
            let want = Decimal::parse(text.as_bytes()).and_then(|d| d.micros());
            prop_assert_eq!(parse_micros(text.as_bytes()), want, "{}", text);
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
