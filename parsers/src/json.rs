//! The record writer: JSON objects written straight into a reusable [`BytesMut`], with no
//! intermediate value tree.
//!
//! Field names are `&'static str` known to be flat lowercase snake_case (checked in debug
//! builds). Values are escaped from arbitrary bytes: invalid UTF-8 becomes U+FFFD and the record
//! is flagged with `parse_error`, so that a wrong encoding is visible, never fatal.

use bytes::{BufMut, BytesMut};

use crate::num::Decimal;

/// Writes one JSON object field by field.
///
/// Every field is written with its leading `,` (`,"key":value`), and the first one's comma becomes
/// the object's `{` when it is finished: no "first field?" test per field. Field names are
/// constants at nearly every call, so [`RecordWriter::key`] is inlined into a fixed-size copy.
#[derive(Debug)]
pub struct RecordWriter<'b> {
    buf: &'b mut BytesMut,
    /// Where the object starts in `buf`.
    start: usize,
    lossy: bool,
}

impl<'b> RecordWriter<'b> {
    /// Begin an object at the end of `buf`.
    pub fn begin(buf: &'b mut BytesMut) -> RecordWriter<'b> {
        let start = buf.len();
        RecordWriter {
            buf,
            start,
            lossy: false,
        }
    }

    /// `,"key":`.
    #[inline(always)]
    fn key(&mut self, key: &'static str) {
        debug_assert!(
            !key.is_empty()
                && key
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "field name {key:?} is not flat lowercase snake_case"
        );
        self.buf.put_slice(b",\"");
        self.buf.put_slice(key.as_bytes());
        self.buf.put_slice(b"\":");
    }

    /// A string field whose name comes from the input (e.g. an unknown `Key:` of a slow log
    /// header): the name is lowercased and every byte outside `[a-z0-9_]` becomes `_`, the way
    /// OpenObserve would store it anyway.
    pub fn str_dynamic_key(&mut self, key: &[u8], value: &[u8]) {
        self.buf.put_slice(b",\"");
        for &b in key.iter().take(128) {
            let b = b.to_ascii_lowercase();
            self.buf
                .put_u8(if b.is_ascii_lowercase() || b.is_ascii_digit() {
                    b
                } else {
                    b'_'
                });
        }
        self.buf.put_slice(b"\":");
        self.lossy |= write_json_string(self.buf, value);
    }

    /// A string field from arbitrary bytes.
    #[inline]
    pub fn str(&mut self, key: &'static str, value: &[u8]) {
        self.key(key);
        self.lossy |= write_json_string(self.buf, value);
    }

    /// A string field, written only when present.
    #[inline]
    pub fn opt_str(&mut self, key: &'static str, value: Option<&[u8]>) {
        if let Some(v) = value {
            self.str(key, v);
        }
    }

    /// A string field from arbitrary bytes; returns whether the value went in as it stands (see
    /// [`is_plain`]), which can spare the check of a value derived from it.
    #[inline]
    pub(crate) fn str_checked(&mut self, key: &'static str, value: &[u8]) -> bool {
        self.key(key);
        if is_plain(value) {
            self.buf.reserve(value.len() + 2);
            self.buf.put_u8(b'"');
            self.buf.put_slice(value);
            self.buf.put_u8(b'"');
            return true;
        }
        self.lossy |= write_json_string_escaped(self.buf, value);
        false
    }

    /// A string field whose value needs no escaping: printable ASCII without `"` or `\\` (ids,
    /// names of our own). Checked in debug builds.
    #[inline(always)]
    pub(crate) fn str_plain(&mut self, key: &'static str, value: &[u8]) {
        debug_assert!(is_plain(value), "{value:?} needs escaping");
        self.key(key);
        self.buf.put_u8(b'"');
        self.buf.put_slice(value);
        self.buf.put_u8(b'"');
    }

    /// A field whose name was rendered beforehand ([`FieldKey`]) and whose value is JSON text
    /// already (a number as logged, validated by the caller).
    #[inline]
    pub(crate) fn raw_value(&mut self, key: &FieldKey, value: &[u8]) {
        let at = self.buf.len();
        // One fixed-size copy, then the padding is dropped.
        self.buf.put_slice(&key.bytes);
        self.buf.truncate(at + usize::from(key.len));
        self.buf.put_slice(value);
    }

    /// An unsigned integer field.
    #[inline(always)]
    pub fn u64(&mut self, key: &'static str, value: u64) {
        self.key(key);
        put_u64(self.buf, value);
    }

    /// An unsigned integer field, written only when present.
    #[inline]
    pub fn opt_u64(&mut self, key: &'static str, value: Option<u64>) {
        if let Some(v) = value {
            self.u64(key, v);
        }
    }

    /// A signed integer field.
    #[inline(always)]
    pub fn i64(&mut self, key: &'static str, value: i64) {
        self.key(key);
        if value < 0 {
            self.buf.put_u8(b'-');
        }
        put_u64(self.buf, value.unsigned_abs());
    }

    /// A signed integer field, written only when present.
    #[inline]
    pub fn opt_i64(&mut self, key: &'static str, value: Option<i64>) {
        if let Some(v) = value {
            self.i64(key, v);
        }
    }

    /// A number field written exactly as its decimal text says.
    #[inline]
    pub fn decimal(&mut self, key: &'static str, value: Decimal<'_>) {
        self.key(key);
        value.write_json(self.buf);
    }

    /// A number field, written only when present.
    #[inline]
    pub fn opt_decimal(&mut self, key: &'static str, value: Option<Decimal<'_>>) {
        if let Some(v) = value {
            self.decimal(key, v);
        }
    }

    /// A boolean field.
    #[inline]
    pub fn bool(&mut self, key: &'static str, value: bool) {
        self.key(key);
        self.buf.put_slice(if value { b"true" } else { b"false" });
    }

    /// Fields already rendered as JSON (`"k":v,"k2":v2`, no braces), e.g. the data plane's
    /// enrichment, rendered once per file.
    pub fn raw_fields(&mut self, fields: &[u8]) {
        if fields.is_empty() {
            return;
        }
        self.buf.put_u8(b',');
        self.buf.put_slice(fields);
    }

    /// Close the object. `parse_error`, or a note that invalid UTF-8 was replaced, becomes the
    /// `parse_error` field.
    pub fn finish(mut self, parse_error: Option<&str>) {
        match parse_error {
            Some(e) => self.str("parse_error", e.as_bytes()),
            None if self.lossy => self.str("parse_error", b"invalid utf-8 replaced with U+FFFD"),
            None => {}
        }
        if self.buf.len() == self.start {
            self.buf.put_slice(b"{}");
        } else {
            // The first field's comma.
            debug_assert_eq!(self.buf[self.start], b',');
            self.buf[self.start] = b'{';
            self.buf.put_u8(b'}');
        }
    }
}

/// `v` in decimal, appended with one fixed-size copy (no `memcpy` call for a few bytes). Up to
/// 16 digits (every timestamp and offset in a log) are formatted eight at a time in a word
/// (SWAR), left-aligned in a 16-byte block whose unused tail is dropped again; longer numbers go
/// through `itoa`.
#[inline]
fn put_u64(buf: &mut BytesMut, v: u64) {
    const E8: u64 = 100_000_000;
    if v >= E8 * E8 {
        buf.put_slice(itoa::Buffer::new().format(v).as_bytes());
        return;
    }
    // The 16 digits, zero-padded, as bytes 0..=9 (not yet ASCII), the first in the lowest byte.
    let digits = u128::from(eight_digits(v / E8)) | (u128::from(eight_digits(v % E8)) << 64);
    // Leading zeros are the lowest zero bytes; `v` = 0 keeps one.
    let zeros = ((digits.trailing_zeros() / 8) as usize).min(15);
    let block = ((digits >> (8 * zeros)) | (0x30 * (u128::MAX / 0xff))).to_le_bytes();
    let at = buf.len();
    buf.put_slice(&block);
    buf.truncate(at + 16 - zeros);
}

/// The eight decimal digits of `x` (< 10^8, zero-padded) as the bytes of a word, the first digit
/// in the lowest byte, each as its value 0..=9. Lane arithmetic: the halves of four digits in two
/// 32-bit lanes, then pairs in four 16-bit lanes, then digits in eight bytes; each division by a
/// constant is a multiply and shift that no lane can overflow.
#[inline]
fn eight_digits(x: u64) -> u64 {
    debug_assert!(x < 100_000_000);
    // [x / 10^4, x % 10^4] in 32-bit lanes (the first four digits in the low lane).
    let v = (x / 10_000) | ((x % 10_000) << 32);
    // Each lane (< 10^4) / 100: lane * 5243 >> 19 (exact below 43 699; product < 2^26).
    let hundreds = ((v * 5243) >> 19) & 0x0000_007f_0000_007f;
    let v = hundreds | ((v - hundreds * 100) << 16);
    // Each 16-bit lane (< 100) / 10: lane * 103 >> 10 (exact below 179; product < 2^14).
    let tens = ((v * 103) >> 10) & 0x000f_000f_000f_000f;
    tens | ((v - tens * 10) << 8)
}

/// A field name rendered once as `,"name":`, padded to a fixed size so that writing it is one
/// fixed-size copy: for names picked at run time from a table, where [`RecordWriter`]'s
/// per-call-site constant copies cannot happen.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FieldKey {
    bytes: [u8; FieldKey::CAP],
    len: u8,
}

impl FieldKey {
    /// Longest rendered key (`,"` + name + `":`).
    pub(crate) const CAP: usize = 32;

    /// `,"name":`; `name` must be flat snake_case of at most `CAP - 4` bytes (checked at compile
    /// time where used in a `const`/`static`).
    pub(crate) const fn new(name: &str) -> FieldKey {
        let name = name.as_bytes();
        assert!(
            name.len() + 4 <= FieldKey::CAP,
            "field name too long for FieldKey"
        );
        let mut bytes = [b' '; FieldKey::CAP];
        bytes[0] = b',';
        bytes[1] = b'"';
        let mut i = 0;
        while i < name.len() {
            let b = name[i];
            assert!(
                b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_',
                "field name is not flat snake_case"
            );
            bytes[2 + i] = b;
            i += 1;
        }
        bytes[2 + i] = b'"';
        bytes[3 + i] = b':';
        FieldKey {
            bytes,
            len: (name.len() + 4) as u8,
        }
    }
}

/// What each byte needs inside a JSON string: 0 = nothing, b'u' = `\u00XX`, else the letter
/// after a backslash.
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[b'\n' as usize] = b'n';
    t[b'\r' as usize] = b'r';
    t[b'\t' as usize] = b't';
    t[0x08] = b'b';
    t[0x0c] = b'f';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// Write `value` as a quoted JSON string. Returns true if invalid UTF-8 had to be replaced.
pub fn write_json_string(buf: &mut BytesMut, value: &[u8]) -> bool {
    // Most values (names, addresses, SQL) need no escaping at all: one check, one copy.
    if is_plain(value) {
        buf.reserve(value.len() + 2);
        buf.put_u8(b'"');
        buf.put_slice(value);
        buf.put_u8(b'"');
        return false;
    }
    write_json_string_escaped(buf, value)
}

/// [`write_json_string`] for a value that needs escaping or is not ASCII.
#[inline(never)]
fn write_json_string_escaped(buf: &mut BytesMut, value: &[u8]) -> bool {
    buf.reserve(value.len() + 2);
    buf.put_u8(b'"');
    // ASCII (most of any log) is escaped in one pass; UTF-8 is validated only from the first
    // non-ASCII byte on, which starts a character, so the split keeps both halves whole.
    let rest = match escape::<true>(buf, value) {
        None => {
            buf.put_u8(b'"');
            return false;
        }
        Some(at) => &value[at..],
    };
    if std::str::from_utf8(rest).is_ok() {
        escape::<false>(buf, rest);
        buf.put_u8(b'"');
        return false;
    }
    let mut lossy = false;
    for chunk in rest.utf8_chunks() {
        escape::<false>(buf, chunk.valid().as_bytes());
        if !chunk.invalid().is_empty() {
            buf.put_slice("\u{FFFD}".as_bytes());
            lossy = true;
        }
    }
    buf.put_u8(b'"');
    lossy
}

/// Whether `s` goes into a JSON string as is: ASCII without control bytes, `"` or `\\`.
/// Strings of 16 bytes or more are checked 16 bytes at a time by a branch-free reduction that
/// the compiler turns into vector compares (SSE2 on x86_64, NEON on aarch64; no intrinsics),
/// the last (partial) block as the overlapping final 16 bytes; shorter ones a word at a time.
#[inline]
pub(crate) fn is_plain(s: &[u8]) -> bool {
    const HI: u64 = 0x8080_8080_8080_8080;
    if s.len() >= 16 {
        let block = |b: &[u8]| plain_block(b.try_into().expect("16 bytes"));
        let mut blocks = s.chunks_exact(16);
        if !blocks.by_ref().all(block) {
            return false;
        }
        return blocks.remainder().is_empty() || block(&s[s.len() - 16..]);
    }
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&s[i..i + 8]);
        u64::from_le_bytes(w)
    };
    if s.len() < 8 {
        return s.iter().all(|&b| plain_byte(b));
    }
    // 8 to 15 bytes: the first and the last eight (overlapping).
    let (x, y) = (word(0), word(s.len() - 8));
    !(needs_escape(x) || needs_escape(y) || (x | y) & HI != 0)
}

/// A byte that goes into a JSON string as is: 0x20..=0x7f but `"` and `\\`.
#[inline(always)]
fn plain_byte(b: u8) -> bool {
    (b.wrapping_sub(0x20) < 0x60) & (b != b'"') & (b != b'\\')
}

/// Whether all 16 bytes of `block` are [`plain_byte`]s, with no branch per byte.
#[inline(always)]
fn plain_block(block: &[u8; 16]) -> bool {
    block.iter().fold(true, |all, &b| all & plain_byte(b))
}

/// Escape `s` into `buf`, copying runs that need nothing. Eight bytes at a time are checked for
/// anything needing attention (a control byte, `"` or `\\`; with `STOP_AT_NON_ASCII`, also a
/// byte ≥ 0x80), so clean runs cost a few instructions per word. With `STOP_AT_NON_ASCII` it
/// stops before the first non-ASCII byte and returns its position (nothing from there on is
/// written); without, such bytes pass through (the caller has validated the UTF-8).
fn escape<const STOP_AT_NON_ASCII: bool>(buf: &mut BytesMut, s: &[u8]) -> Option<usize> {
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut start = 0;
    let mut i = 0;
    while i < s.len() {
        if let Some(word) = s.get(i..i + 8) {
            let x = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
            if !(needs_escape(x) || (STOP_AT_NON_ASCII && x & HI != 0)) {
                i += 8;
                continue;
            }
        }
        let b = s[i];
        if STOP_AT_NON_ASCII && b >= 0x80 {
            buf.put_slice(&s[start..i]);
            return Some(i);
        }
        let esc = ESCAPE[b as usize];
        if esc != 0 {
            buf.put_slice(&s[start..i]);
            put_escape(buf, b, esc);
            start = i + 1;
        }
        i += 1;
    }
    buf.put_slice(&s[start..]);
    None
}

#[inline]
fn put_escape(buf: &mut BytesMut, b: u8, esc: u8) {
    if esc == b'u' {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        buf.put_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[(b >> 4) as usize],
            HEX[(b & 0xf) as usize],
        ]);
    } else {
        buf.put_slice(&[b'\\', esc]);
    }
}

/// Whether any byte of the word is below 0x20, `"` or `\\` (SWAR: "has a zero byte" on the
/// word and on its XORs with the two quote bytes; "has a byte < 0x20" by subtraction, ignoring
/// bytes with the top bit set, which are UTF-8 and need nothing).
#[inline]
fn needs_escape(x: u64) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(LO) & !v & HI != 0;
    let below_space = x.wrapping_sub(LO * 0x20) & !x & HI != 0;
    below_space || has_zero(x ^ (LO * u64::from(b'"'))) || has_zero(x ^ (LO * u64::from(b'\\')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn render(v: &[u8]) -> (String, bool) {
        let mut b = BytesMut::new();
        let lossy = write_json_string(&mut b, v);
        (String::from_utf8(b.to_vec()).unwrap(), lossy)
    }

    #[test]
    fn escapes_specials_and_controls() {
        assert_eq!(
            render(b"a\"b\\c\n\t\x01\x7f").0,
            r#""a\"b\\c\n\t\u0001\u007f""#.replace("\\u007f", "\u{7f}")
        );
    }

    #[test]
    fn replaces_invalid_utf8_and_flags_it() {
        let mut b = BytesMut::new();
        let mut w = RecordWriter::begin(&mut b);
        w.str("message", b"caf\xe9");
        w.u64("n", 3);
        w.finish(None);
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["message"], "caf\u{FFFD}");
        assert_eq!(v["n"], 3);
        assert!(v["parse_error"].as_str().unwrap().contains("utf-8"));
    }

    #[test]
    fn integers_match_the_standard_formatting() {
        let mut b = BytesMut::new();
        let mut values: Vec<u64> = vec![0, 1, 9, 10, 99, 100, 9_999, 10_000, 12_345, u64::MAX];
        values.extend((0..20).map(|p| 10u64.pow(p)));
        values.extend((1..20).map(|p| 10u64.pow(p) - 1));
        values.extend([
            123_456_789_012_345,
            9_999_999_999_999_999,
            10_000_000_000_000_000,
        ]);
        for v in values {
            b.clear();
            put_u64(&mut b, v);
            assert_eq!(&b[..], v.to_string().as_bytes());
        }
        for v in [0i64, -1, 7, -1234567, i64::MIN, i64::MAX] {
            b.clear();
            let mut w = RecordWriter::begin(&mut b);
            w.i64("n", v);
            w.finish(None);
            assert_eq!(&b[..], format!("{{\"n\":{v}}}").as_bytes());
        }
    }

    proptest! {
        #[test]
        fn any_integer_formats_as_std_does(
            v in prop_oneof![any::<u64>(), 0u64..10_000_000_000_000_000, 0u64..100_000],
            i in any::<i64>(),
        ) {
            let mut b = BytesMut::from(&b"x"[..]);
            put_u64(&mut b, v);
            let want = v.to_string();
            prop_assert_eq!(&b[1..], want.as_bytes());
            let mut b = BytesMut::new();
            let mut w = RecordWriter::begin(&mut b);
            w.i64("n", i);
            w.finish(None);
            let want = format!("{{\"n\":{i}}}");
            prop_assert_eq!(&b[..], want.as_bytes());
        }

        /// Our escaping agrees with serde_json's on the lossy decoding of any bytes.
        #[test]
        fn matches_serde_json(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let (ours, lossy) = render(&bytes);
            let text = String::from_utf8_lossy(&bytes);
            prop_assert_eq!(lossy, std::str::from_utf8(&bytes).is_err());
            let back: String = serde_json::from_str(&ours).unwrap();
            prop_assert_eq!(&back, &text);
            prop_assert_eq!(ours, serde_json::to_string(&text).unwrap());
        }

        /// The block and word checks agree with the byte rule at every length and position.
        #[test]
        fn is_plain_is_the_byte_rule(
            bytes in proptest::collection::vec(
                prop_oneof![30 => 0x20u8..0x80, 1 => any::<u8>()], 0..80),
        ) {
            let want = bytes.iter().all(|&b| (0x20..0x80).contains(&b) && b != b'"' && b != b'\\');
            prop_assert_eq!(is_plain(&bytes), want);
        }

        #[test]
        fn any_text_round_trips(s in ".{0,100}") {
            let (ours, lossy) = render(s.as_bytes());
            prop_assert!(!lossy);
            prop_assert_eq!(serde_json::from_str::<String>(&ours).unwrap(), s);
        }
    }
}
