//! auto_explain entries: `duration: X ms  plan:` followed by the plan in the format of
//! `auto_explain.log_format`, whose first item is the query text:
//!
//! ```text
//! text   Query Text: SELECT …            (the query as sent, over as many lines as it has)
//!        [Query Parameters: $1 = '…']    (PostgreSQL 16+)
//!        Seq Scan on t  (cost=…)         (the plan: its first line is a node with its costs)
//! json   {"Query Text": "SELECT …", "Plan": {…}}        (one JSON string)
//! yaml   Query Text: "SELECT …"                         (a JSON-escaped string)
//! xml    <explain …><Query-Text>SELECT …</Query-Text>   (`&amp;`, `&lt;`, `&gt;` escaped)
//! ```
//!
//! [`read`] finds the query text (so the entry is a timed query with a statement and a
//! fingerprint) and the plan. A text-format plan is what follows the query text (what `EXPLAIN`
//! prints); the other formats keep their whole document, query text included, so that it stays
//! a valid document.

/// What an auto_explain message holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct AutoExplain<'a> {
    /// The query text, if found: in the message, or (`Unescaped`) in the caller's buffer.
    pub statement: Option<Statement<'a>>,
    /// The plan (see the module docs), if any.
    pub plan: Option<&'a [u8]>,
    /// The text format's `Query Parameters:` value.
    pub parameters: Option<&'a [u8]>,
}

/// Where the query text is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Statement<'a> {
    /// As it stands in the message.
    InMessage(&'a [u8]),
    /// Unescaped into the buffer given to [`read`].
    Unescaped,
}

/// Read the part of an auto_explain message after `plan:`; an escaped query text is written
/// to `buf` (cleared first).
pub(crate) fn read<'a>(after_plan: &'a [u8], buf: &mut Vec<u8>) -> AutoExplain<'a> {
    buf.clear();
    let start = after_plan
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(after_plan.len());
    let doc = after_plan[start..].trim_ascii_end();
    let mut out = AutoExplain {
        plan: (!doc.is_empty()).then_some(doc),
        ..AutoExplain::default()
    };
    if let Some(rest) = doc.strip_prefix(b"Query Text: ") {
        if rest.first() == Some(&b'"') {
            // YAML: the value is a JSON-escaped string.
            if json_string(rest, buf).is_some() {
                out.statement = Some(Statement::Unescaped);
            }
        } else {
            text_format(rest, &mut out);
        }
    } else if matches!(doc.first(), Some(b'{' | b'[')) {
        const KEY: &[u8] = b"\"Query Text\": ";
        if let Some(at) = memchr::memmem::find(doc, KEY) {
            if json_string(&doc[at + KEY.len()..], buf).is_some() {
                out.statement = Some(Statement::Unescaped);
            }
        }
    } else if doc.starts_with(b"<explain") {
        if let Some(text) = between(doc, b"<Query-Text>", b"</Query-Text>") {
            out.statement = Some(if memchr::memchr(b'&', text).is_some() {
                xml_unescape(text, buf);
                Statement::Unescaped
            } else {
                Statement::InMessage(text)
            });
        }
    }
    out
}

/// The text format after `Query Text: `: the query runs up to the `Query Parameters:` line or
/// the plan's first node line (`Name  (cost=…`), whichever comes first.
fn text_format<'a>(rest: &'a [u8], out: &mut AutoExplain<'a>) {
    let mut line_start = match memchr::memchr(b'\n', rest) {
        Some(nl) => nl + 1,
        None => {
            out.statement = Some(Statement::InMessage(rest));
            out.plan = None;
            return;
        }
    };
    while line_start < rest.len() {
        let line_end =
            memchr::memchr(b'\n', &rest[line_start..]).map_or(rest.len(), |n| line_start + n);
        let line = &rest[line_start..line_end];
        let params = line.strip_prefix(b"Query Parameters: ");
        if params.is_some() || memchr::memmem::find(line, b"  (cost=").is_some() {
            out.statement = Some(Statement::InMessage(
                rest[..line_start - 1].trim_ascii_end(),
            ));
            out.parameters = params;
            let plan_at = if params.is_some() {
                line_end + 1
            } else {
                line_start
            };
            out.plan = rest.get(plan_at..).filter(|p| !p.is_empty());
            return;
        }
        line_start = line_end + 1;
    }
    // No plan line: all of it is the query.
    out.statement = Some(Statement::InMessage(rest));
    out.plan = None;
}

/// The text between the first `open` and the `close` after it.
fn between<'a>(s: &'a [u8], open: &[u8], close: &[u8]) -> Option<&'a [u8]> {
    let from = memchr::memmem::find(s, open)? + open.len();
    let len = memchr::memmem::find(&s[from..], close)?;
    Some(&s[from..from + len])
}

/// `&amp;`, `&lt;`, `&gt;` (what PostgreSQL's `escape_xml` writes), `&quot;`, `&apos;`.
fn xml_unescape(s: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while let Some(k) = memchr::memchr(b'&', &s[i..]) {
        out.extend_from_slice(&s[i..i + k]);
        let rest = &s[i + k..];
        let (b, n) = [
            (&b"&amp;"[..], b'&'),
            (b"&lt;", b'<'),
            (b"&gt;", b'>'),
            (b"&quot;", b'"'),
            (b"&apos;", b'\''),
        ]
        .iter()
        .find(|(e, _)| rest.starts_with(e))
        .map_or((b'&', 1), |(e, c)| (*c, e.len()));
        out.push(b);
        i += k + n;
    }
    out.extend_from_slice(&s[i..]);
}

/// The JSON string at the start of `s` (its opening quote first), unescaped into `out`:
/// its length in `s`, or `None` if it does not close or holds a bad escape.
fn json_string(s: &[u8], out: &mut Vec<u8>) -> Option<usize> {
    out.clear();
    let mut i = 1;
    if s.first() != Some(&b'"') {
        return None;
    }
    loop {
        let k = memchr::memchr2(b'"', b'\\', s.get(i..)?)?;
        out.extend_from_slice(&s[i..i + k]);
        i += k;
        if s[i] == b'"' {
            return Some(i + 1);
        }
        let esc = *s.get(i + 1)?;
        i += 2;
        let c = match esc {
            b'"' | b'\\' | b'/' => esc,
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let (ch, n) = unicode_escape(&s[i..])?;
                let mut utf8 = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut utf8).as_bytes());
                i += n;
                continue;
            }
            _ => return None,
        };
        out.push(c);
    }
}

/// The `XXXX` of a `\uXXXX` escape at the start of `s` (a surrogate pair takes the next
/// `\uXXXX` too): the character and the bytes read. A lone surrogate reads as U+FFFD.
fn unicode_escape(s: &[u8]) -> Option<(char, usize)> {
    let hex4 = |s: &[u8]| -> Option<u32> {
        let h = std::str::from_utf8(s.get(..4)?).ok()?;
        u32::from_str_radix(h, 16).ok()
    };
    let hi = hex4(s)?;
    if (0xd800..0xdc00).contains(&hi) {
        if let Some(lo) = s
            .get(4..6)
            .filter(|p| *p == b"\\u")
            .and_then(|_| hex4(&s[6..]))
            .filter(|lo| (0xdc00..0xe000).contains(lo))
        {
            let c = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
            return Some((char::from_u32(c)?, 10));
        }
    }
    Some((char::from_u32(hi).unwrap_or('\u{fffd}'), 4))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement(after_plan: &str) -> (Option<String>, Option<String>, Option<String>) {
        let mut buf = Vec::new();
        let ae = read(after_plan.as_bytes(), &mut buf);
        let s = ae.statement.map(|s| match s {
            Statement::InMessage(t) => String::from_utf8_lossy(t).into_owned(),
            Statement::Unescaped => String::from_utf8_lossy(&buf).into_owned(),
        });
        let lossy = |b: Option<&[u8]>| b.map(|b| String::from_utf8_lossy(b).into_owned());
        (s, lossy(ae.plan), lossy(ae.parameters))
    }

    /// Message bodies as PostgreSQL 15's auto_explain writes them (after the stderr parser
    /// joined the continuation lines and removed their TAB).
    #[test]
    fn every_log_format() {
        let (s, plan, _) = statement("\nQuery Text: SELECT 1 AS one,\n  'it''s' AS two\nWHERE 1 = 1;\nResult  (cost=0.00..0.01 rows=1 width=36)");
        assert_eq!(
            s.as_deref(),
            Some("SELECT 1 AS one,\n  'it''s' AS two\nWHERE 1 = 1;")
        );
        assert_eq!(
            plan.as_deref(),
            Some("Result  (cost=0.00..0.01 rows=1 width=36)")
        );
        let (s, plan, params) = statement("\nQuery Text: SELECT * FROM t WHERE a = $1\nQuery Parameters: $1 = '5'\nSeq Scan on t  (cost=0.00..35.50 rows=10 width=4) (actual time=0.010..0.011 rows=0 loops=1)\n  Filter: (a = 5)");
        assert_eq!(s.as_deref(), Some("SELECT * FROM t WHERE a = $1"));
        assert_eq!(params.as_deref(), Some("$1 = '5'"));
        assert!(plan.unwrap().starts_with("Seq Scan on t  (cost="));
        let json = "\n{\n  \"Query Text\": \"SELECT relname FROM pg_class WHERE relname = 'x\\\"y\\\\z';\\n-- \\u00e9\\ud83d\\ude00\",\n  \"Plan\": {\n    \"Node Type\": \"Index Only Scan\"\n  }\n}";
        let (s, plan, _) = statement(json);
        assert_eq!(
            s.as_deref(),
            Some("SELECT relname FROM pg_class WHERE relname = 'x\"y\\z';\n-- é😀")
        );
        assert!(plan.unwrap().starts_with("{\n  \"Query Text\""));
        let (s, _, _) = statement("\nQuery Text: \"SELECT 2;\"\nPlan: \n  Node Type: \"Result\"");
        assert_eq!(s.as_deref(), Some("SELECT 2;"));
        let (s, plan, _) = statement("\n<explain xmlns=\"http://www.postgresql.org/2009/explain\">\n  <Query-Text>SELECT 3 WHERE 'a&lt;b' &lt;&gt; 'c&amp;d';</Query-Text>\n  <Plan>\n  </Plan>\n</explain>");
        assert_eq!(s.as_deref(), Some("SELECT 3 WHERE 'a<b' <> 'c&d';"));
        assert!(plan.unwrap().starts_with("<explain"));
    }

    #[test]
    fn damaged_plans_never_panic() {
        for body in [
            "",
            "\n",
            "\nQuery Text: ",
            "\nQuery Text: SELECT 1",
            "\nQuery Text: \"unclosed",
            "\n{\"Query Text\": \"a\\u12",
            "\n{\"Query Text\": \"a\\ud800\\u0041\"}",
            "\n{\"Query Text\": \"\\q\"}",
            "\n<explain><Query-Text>a &am",
            "\nSeq Scan on t  (cost=1)",
            "\nQuery Text: a\nQuery Parameters: ",
        ] {
            let _ = statement(body);
        }
        assert_eq!(
            statement("\nQuery Text: SELECT 1").0.as_deref(),
            Some("SELECT 1")
        );
        assert_eq!(statement("\n{\"Query Text\": \"\\q\"}").0, None);
        assert_eq!(
            statement("\n{\"Query Text\": \"a\\ud800\\u0041\"}")
                .0
                .as_deref(),
            Some("a\u{fffd}A")
        );
    }
}
