//! A pg_stat_statements-like normalised form of a PostgreSQL statement.
//!
//! One linear pass of a small SQL lexer over the bytes (no allocation beyond `out`; a second pass
//! only when the statement has both `$n` parameters and constants, see below):
//!
//! * constants become `$n`, numbered from 1 in order of appearance — or, like pg_stat_statements,
//!   from one more than the highest `$n` parameter already in the statement (prepared statements
//!   keep their own `$n`). Constants are: numbers (`42`, `1.5e-3`, `.5`, `0x1F`, `1_000`, with a
//!   unary minus when it follows an operator, `(`, `,` or a keyword such as `WHERE`/`SELECT`),
//!   strings `'…'` (`''` doubling), `E'…'` (backslash escapes), `B'…'`, `X'…'`, `N'…'`, `U&'…'`,
//!   and dollar-quoted `$$…$$` / `$tag$…$tag$`. A typed literal `DATE '2020-01-01'` becomes
//!   `DATE $1`, as in pg_stat_statements;
//! * `TRUE`, `FALSE` and `NULL` are kept (pg_stat_statements keeps them too);
//! * `IN (c1, c2, …)` with two or more constants is squashed like PostgreSQL 18's
//!   pg_stat_statements: `IN ($1 /*, ... */)` (one number for the whole list), so that lists of
//!   any length group together; a single constant stays `IN ($1)`;
//! * comments (`-- …`, nested `/* … */`) are removed and whitespace runs collapse to one space
//!   (none at either end); identifiers, keywords and quoted identifiers keep their case.
//!
//! Unterminated strings, quoted identifiers or comments run to the end of the input.

/// The kind of the last token written, for the unary-minus rule.
#[derive(Clone, Copy, PartialEq)]
enum Prev {
    /// Start of statement, an operator or punctuation: a `-` here is a sign.
    Operator,
    /// An operand (identifier, constant, `)`): a `-` here is subtraction.
    Operand,
    /// A keyword after which a `-` is a sign.
    SignKeyword,
}

/// Whether `word` is one of [`SIGN_KEYWORDS`] (any case): runs for every identifier.
fn is_sign_keyword(word: &[u8]) -> bool {
    const fn packed() -> [u128; SIGN_KEYWORDS.len()] {
        let mut out = [0u128; SIGN_KEYWORDS.len()];
        let mut i = 0;
        while i < out.len() {
            out[i] = crate::ascii::pack16(SIGN_KEYWORDS[i]);
            i += 1;
        }
        out
    }
    const PACKED: [u128; SIGN_KEYWORDS.len()] = packed();
    crate::ascii::pack16_lower(word).is_some_and(|w| PACKED.contains(&w))
}

/// Keywords after which `-1` is a negative constant, not a subtraction.
const SIGN_KEYWORDS: &[&[u8]] = &[
    b"select",
    b"where",
    b"and",
    b"or",
    b"not",
    b"when",
    b"then",
    b"else",
    b"return",
    b"values",
    b"in",
    b"by",
    b"limit",
    b"offset",
    b"between",
    b"like",
    b"is",
    b"case",
    b"set",
    b"having",
    b"on",
    b"returning",
    b"array",
    b"any",
    b"all",
    b"some",
    b"distinct",
];

/// Write the pg_stat_statements-style normalised form of `query` into `out` (cleared first).
///
/// Linear in the length of `query`, never panics, accepts any bytes (see the module docs).
pub fn normalize(query: &[u8], out: &mut Vec<u8>) {
    let max_param = normalize_from(query, out, 0);
    if max_param > 0 && !out.is_empty() {
        // Constants are numbered after the highest existing parameter: redo with that offset
        // (only when both occur; a rare case).
        let mut has_constant_placeholder = false;
        let mut probe = Lexer::new(query, 0);
        while let Some(t) = probe.next_token() {
            if matches!(t, Tok::Constant(..) | Tok::List(..)) {
                has_constant_placeholder = true;
                break;
            }
        }
        if has_constant_placeholder {
            normalize_from(query, out, max_param);
        }
    }
}

/// One normalising pass numbering constants from `first + 1`; returns the highest `$n` seen.
fn normalize_from(query: &[u8], out: &mut Vec<u8>, first: u32) -> u32 {
    out.clear();
    let mut lexer = Lexer::new(query, first);
    let mut pending_space = false;
    while let Some(tok) = lexer.next_token() {
        if let Tok::Space = tok {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(b' ');
            pending_space = false;
        }
        match tok {
            Tok::Space => {}
            Tok::Verbatim(s, e) => out.extend_from_slice(&query[s..e]),
            Tok::Constant(n) => {
                out.push(b'$');
                out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
            }
            Tok::List(kw_s, kw_e, n) => {
                out.extend_from_slice(&query[kw_s..kw_e]);
                out.extend_from_slice(b" ($");
                out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
                out.extend_from_slice(b" /*, ... */)");
            }
        }
    }
    lexer.max_param
}

enum Tok {
    /// Whitespace or a comment.
    Space,
    /// Bytes copied as they are.
    Verbatim(usize, usize),
    /// A constant, replaced by `$n`.
    Constant(u32),
    /// `IN (constants…)`: the keyword's range and the number of the squashed list.
    List(usize, usize, u32),
}

struct Lexer<'a> {
    s: &'a [u8],
    i: usize,
    next_number: u32,
    max_param: u32,
    prev: Prev,
}

#[inline]
fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

#[inline]
fn is_ident_char(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit() || b == b'$'
}

impl<'a> Lexer<'a> {
    fn new(s: &'a [u8], first: u32) -> Self {
        Lexer {
            s,
            i: 0,
            next_number: first,
            max_param: 0,
            prev: Prev::Operator,
        }
    }

    fn constant(&mut self) -> Tok {
        self.next_number = self.next_number.saturating_add(1);
        self.prev = Prev::Operand;
        Tok::Constant(self.next_number)
    }

    fn next_token(&mut self) -> Option<Tok> {
        let s = self.s;
        let start = self.i;
        let c = *s.get(start)?;
        if c.is_ascii_whitespace() || c == 0x0b {
            while self.i < s.len() && (s[self.i].is_ascii_whitespace() || s[self.i] == 0x0b) {
                self.i += 1;
            }
            return Some(Tok::Space);
        }
        if c == b'-' && s.get(start + 1) == Some(&b'-') {
            self.i = memchr::memchr(b'\n', &s[start..]).map_or(s.len(), |k| start + k + 1);
            return Some(Tok::Space);
        }
        if c == b'/' && s.get(start + 1) == Some(&b'*') {
            self.i = block_comment_end(s, start);
            return Some(Tok::Space);
        }
        if let Some(end) = constant_end(s, start, self.prev != Prev::Operand) {
            self.i = end;
            return Some(self.constant());
        }
        if c == b'"' {
            self.i = quoted_end(s, start + 1, b'"', false);
            self.prev = Prev::Operand;
            return Some(Tok::Verbatim(start, self.i));
        }
        if c == b'$' && s.get(start + 1).is_some_and(u8::is_ascii_digit) {
            let mut j = start + 1;
            let mut n: u32 = 0;
            while j < s.len() && s[j].is_ascii_digit() {
                n = n.saturating_mul(10).saturating_add(u32::from(s[j] - b'0'));
                j += 1;
            }
            self.max_param = self.max_param.max(n);
            self.i = j;
            self.prev = Prev::Operand;
            return Some(Tok::Verbatim(start, j));
        }
        if is_ident_start(c) {
            let mut j = start + 1;
            while j < s.len() && is_ident_char(s[j]) {
                j += 1;
            }
            self.i = j;
            let word = &s[start..j];
            if word.eq_ignore_ascii_case(b"in") {
                if let Some(end) = self.squashable_list(j) {
                    self.i = end;
                    self.next_number = self.next_number.saturating_add(1);
                    self.prev = Prev::Operand;
                    return Some(Tok::List(start, j, self.next_number));
                }
            }
            self.prev = if is_sign_keyword(word) {
                Prev::SignKeyword
            } else {
                Prev::Operand
            };
            return Some(Tok::Verbatim(start, j));
        }
        if c.is_ascii_digit() {
            // A digit run glued to something else (e.g. `1abc`): copy it.
            let mut j = start + 1;
            while j < s.len() && is_ident_char(s[j]) {
                j += 1;
            }
            self.i = j;
            self.prev = Prev::Operand;
            return Some(Tok::Verbatim(start, j));
        }
        // Any other byte (operator, punctuation, invalid UTF-8): copied alone.
        self.i = start + 1;
        self.prev = if matches!(c, b')' | b']') {
            Prev::Operand
        } else {
            Prev::Operator
        };
        Some(Tok::Verbatim(start, start + 1))
    }

    /// After `IN` at `i`: `\s*( const (, const)+ )` — the end, if it holds two or more constants.
    fn squashable_list(&self, mut i: usize) -> Option<usize> {
        let s = self.s;
        let skip = |mut i: usize| {
            while i < s.len() && s[i].is_ascii_whitespace() {
                i += 1;
            }
            i
        };
        i = skip(i);
        if s.get(i) != Some(&b'(') {
            return None;
        }
        let mut count = 0;
        loop {
            i = skip(i + 1);
            i = skip(constant_end(s, i, true)?);
            count += 1;
            match s.get(i) {
                Some(b',') => continue,
                Some(b')') if count >= 2 => return Some(i + 1),
                _ => return None,
            }
        }
    }
}

/// End of a nested `/* … */` comment starting at `i` (end of input if unterminated).
fn block_comment_end(s: &[u8], mut i: usize) -> usize {
    let mut depth = 0usize;
    while i + 1 < s.len() {
        match (s[i], s[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    s.len()
}

/// End of a quoted run whose opening quote is just before `i` (`qq` doubling; backslash escapes
/// when `backslash`); end of input if unterminated.
fn quoted_end(s: &[u8], mut i: usize, q: u8, backslash: bool) -> usize {
    while i < s.len() {
        let b = s[i];
        if backslash && b == b'\\' {
            i += 2;
        } else if b == q {
            if s.get(i + 1) == Some(&q) {
                i += 2;
            } else {
                return i + 1;
            }
        } else {
            i += 1;
        }
    }
    s.len()
}

/// A constant starting at `i`: its end. `sign_ok`: a leading `-` may be part of a number.
fn constant_end(s: &[u8], i: usize, sign_ok: bool) -> Option<usize> {
    let c = *s.get(i)?;
    let prev_is_ident = i > 0 && is_ident_char(s[i - 1]);
    match c {
        b'\'' => Some(quoted_end(s, i + 1, b'\'', false)),
        b'e' | b'E' if !prev_is_ident && s.get(i + 1) == Some(&b'\'') => {
            Some(quoted_end(s, i + 2, b'\'', true))
        }
        b'b' | b'B' | b'x' | b'X' | b'n' | b'N'
            if !prev_is_ident && s.get(i + 1) == Some(&b'\'') =>
        {
            Some(quoted_end(s, i + 2, b'\'', false))
        }
        b'u' | b'U' if !prev_is_ident && s.get(i + 1..i + 3) == Some(b"&'") => {
            Some(quoted_end(s, i + 3, b'\'', false))
        }
        b'$' if !prev_is_ident => dollar_quoted_end(s, i),
        b'-' if sign_ok => {
            let j = i + 1;
            number_end(s, j)
        }
        b'0'..=b'9' | b'.' if !prev_is_ident => number_end(s, i),
        _ => None,
    }
}

/// A `$tag$…$tag$` string at `i` (`tag` empty or an identifier): its end.
fn dollar_quoted_end(s: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    if j < s.len() && (s[j].is_ascii_alphabetic() || s[j] == b'_' || s[j] >= 0x80) {
        while j < s.len() && (is_ident_start(s[j]) || s[j].is_ascii_digit()) {
            j += 1;
        }
    }
    if s.get(j) != Some(&b'$') {
        return None;
    }
    let tag = &s[i..=j];
    let body = j + 1;
    Some(memchr::memmem::find(&s[body..], tag).map_or(s.len(), |k| body + k + tag.len()))
}

/// A numeric literal at `i` (digits with `_`, a fraction, an exponent; `0x`/`0o`/`0b` forms).
fn number_end(s: &[u8], i: usize) -> Option<usize> {
    let digits = |mut j: usize, ok: fn(u8) -> bool| {
        while j < s.len() && (ok(s[j]) || (s[j] == b'_' && s.get(j + 1).is_some_and(|&b| ok(b)))) {
            j += 1;
        }
        j
    };
    let first = *s.get(i)?;
    if first == b'0' && matches!(s.get(i + 1), Some(b'x' | b'X' | b'o' | b'O' | b'b' | b'B')) {
        let ok: fn(u8) -> bool = match s[i + 1] | 0x20 {
            b'x' => |b| b.is_ascii_hexdigit(),
            b'o' => |b| (b'0'..=b'7').contains(&b),
            _ => |b| b == b'0' || b == b'1',
        };
        let j = digits(i + 2, ok);
        if j > i + 2 {
            return Some(j);
        }
    }
    let int_end = digits(i, |b| b.is_ascii_digit());
    let mut j = int_end;
    if s.get(j) == Some(&b'.') && s.get(j + 1) != Some(&b'.') {
        let frac_end = digits(j + 1, |b| b.is_ascii_digit());
        if int_end == i && frac_end == j + 1 {
            return None; // a lone `.`
        }
        j = frac_end;
    } else if int_end == i {
        return None;
    }
    if matches!(s.get(j), Some(b'e' | b'E')) {
        let mut k = j + 1;
        if matches!(s.get(k), Some(b'+' | b'-')) {
            k += 1;
        }
        if s.get(k).is_some_and(u8::is_ascii_digit) {
            j = digits(k, |b| b.is_ascii_digit());
        }
    }
    Some(j)
}

#[cfg(test)]
mod tests {
    use super::normalize;

    fn n(q: &str) -> String {
        let mut out = Vec::new();
        normalize(q.as_bytes(), &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn constants_numbered_in_order() {
        assert_eq!(
            n("SELECT * FROM t WHERE a = 1 AND b = 'x'"),
            "SELECT * FROM t WHERE a = $1 AND b = $2"
        );
        assert_eq!(
            n("select 1.5e-3, .5, 0x1F, 1_000, -2"),
            "select $1, $2, $3, $4, $5"
        );
        assert_eq!(n("SELECT a-1, a - 1, t1.c2"), "SELECT a-$1, a - $2, t1.c2");
        assert_eq!(
            n("SELECT E'it\\'s', 'a''b', B'101', X'1F', U&'d\\0061'"),
            "SELECT $1, $2, $3, $4, $5"
        );
        assert_eq!(n("SELECT $$a 'b' $$, $fn$ x $$ y $fn$"), "SELECT $1, $2");
        assert_eq!(
            n("SELECT DATE '2020-01-01', NULL, TRUE"),
            "SELECT DATE $1, NULL, TRUE"
        );
        assert_eq!(
            n("SELECT \"Mixed Case\", \"a\"\"b\" FROM \"T\""),
            "SELECT \"Mixed Case\", \"a\"\"b\" FROM \"T\""
        );
    }

    #[test]
    fn params_kept_and_constants_numbered_after_them() {
        assert_eq!(
            n("SELECT * FROM t WHERE a = $1 AND b = $2"),
            "SELECT * FROM t WHERE a = $1 AND b = $2"
        );
        assert_eq!(
            n("SELECT * FROM t WHERE a = $2 AND b = 5"),
            "SELECT * FROM t WHERE a = $2 AND b = $3"
        );
    }

    #[test]
    fn comments_and_whitespace() {
        assert_eq!(
            n("  SELECT /* c /* nested */ */ 1 -- tail\n FROM\tt  "),
            "SELECT $1 FROM t"
        );
        assert_eq!(n("SELECT 'unterminated"), "SELECT $1");
        assert_eq!(n("SELECT /* unterminated"), "SELECT");
        assert_eq!(n(""), "");
    }

    #[test]
    fn in_lists_squashed() {
        assert_eq!(
            n("SELECT * FROM t WHERE id IN (1, 2, -3, 'x')"),
            "SELECT * FROM t WHERE id IN ($1 /*, ... */)"
        );
        assert_eq!(
            n("SELECT * FROM t WHERE id in(1,2) AND b = 7"),
            "SELECT * FROM t WHERE id in ($1 /*, ... */) AND b = $2"
        );
        assert_eq!(
            n("SELECT * FROM t WHERE id IN (1)"),
            "SELECT * FROM t WHERE id IN ($1)"
        );
        assert_eq!(
            n("SELECT * FROM t WHERE id IN (a, 2)"),
            "SELECT * FROM t WHERE id IN (a, $1)"
        );
        assert_eq!(
            n("SELECT * FROM t WHERE id IN (SELECT 1)"),
            "SELECT * FROM t WHERE id IN (SELECT $1)"
        );
    }

    #[test]
    fn any_bytes_and_huge_input() {
        let mut out = Vec::new();
        normalize(b"SELECT \xff\xfe '\xc3' $", &mut out);
        assert_eq!(out, b"SELECT \xff\xfe $1 $");
        let q = format!(
            "SELECT * FROM t WHERE id IN ({}1)",
            "123, ".repeat(1_000_000)
        );
        assert_eq!(n(&q), "SELECT * FROM t WHERE id IN ($1 /*, ... */)");
    }
}
