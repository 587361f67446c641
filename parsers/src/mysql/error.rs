//! STUB — being written.
use crate::frame::{LineClass, LineClassifier, RawEntry};
use crate::json::RecordWriter;
use crate::parser::{FormatEntry, FormatParser};

/// Groups lines into entries.
#[derive(Debug, Default)]
pub struct Classifier;
impl LineClassifier for Classifier {
    fn classify(&mut self, line: &[u8]) -> LineClass {
        if looks_like_line(line) { LineClass::Start } else { LineClass::Continue }
    }
}
/// Whether a line starts an entry of this format.
pub fn looks_like_line(_line: &[u8]) -> bool {
    false
}
/// Parses entries.
#[derive(Debug, Default)]
pub struct Parser;
/// An entry.
#[derive(Debug)]
pub struct ErrorLogEntry<'a> {
    /// text
    pub text: &'a [u8],
}
impl FormatParser for Parser {
    type Classifier = Classifier;
    type Entry<'a> = ErrorLogEntry<'a>;
    fn parse<'a>(&'a mut self, raw: RawEntry<'a>) -> ErrorLogEntry<'a> {
        ErrorLogEntry { text: raw.text }
    }
}
impl FormatEntry for ErrorLogEntry<'_> {
    fn timestamp_us(&self) -> Option<i64> { None }
    fn parse_error(&self) -> Option<&'static str> { None }
    fn write_fields(&self, _w: &mut RecordWriter<'_>) {}
}
