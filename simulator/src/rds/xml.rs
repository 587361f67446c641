//! The XML of the RDS Query API: a small writer for the response documents and the text escape
//! that log data needs.
//!
//! Log data holds `<`, `&`, quotes and control characters. XML 1.0 cannot carry most control
//! characters even escaped, but the AWS SDKs' XML readers decode any numeric character
//! reference (`&#x1;`), so every control character except tab and newline is written as one;
//! `\r` too, so that no reader's end-of-line handling can change the data.

use std::fmt::Write;

/// The namespace of every RDS Query API response.
pub const RDS_XMLNS: &str = "http://rds.amazonaws.com/doc/2014-10-31/";

/// Append `text` to `out`, escaped for XML element content.
pub(crate) fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' => out.push(c),
            c if c.is_control() => {
                let _ = write!(out, "&#x{:X};", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// A response document under construction.
pub(crate) struct XmlDoc {
    out: String,
    open: Vec<&'static str>,
}

impl XmlDoc {
    /// A document whose root element carries the RDS namespace.
    pub fn new(root: &'static str) -> XmlDoc {
        let mut out = String::with_capacity(512);
        let _ = write!(out, "<{root} xmlns=\"{RDS_XMLNS}\">");
        XmlDoc {
            out,
            open: vec![root],
        }
    }

    /// Open an element.
    pub fn start(&mut self, name: &'static str) -> &mut XmlDoc {
        let _ = write!(self.out, "<{name}>");
        self.open.push(name);
        self
    }

    /// Close the innermost open element.
    pub fn end(&mut self) -> &mut XmlDoc {
        if let Some(name) = self.open.pop() {
            let _ = write!(self.out, "</{name}>");
        }
        self
    }

    /// An element holding escaped text.
    pub fn text(&mut self, name: &'static str, text: &str) -> &mut XmlDoc {
        let _ = write!(self.out, "<{name}>");
        escape_into(&mut self.out, text);
        let _ = write!(self.out, "</{name}>");
        self
    }

    /// An element holding a number or a boolean.
    pub fn value(&mut self, name: &'static str, value: impl std::fmt::Display) -> &mut XmlDoc {
        let _ = write!(self.out, "<{name}>{value}</{name}>");
        self
    }

    /// Close every open element and return the document.
    pub fn finish(mut self) -> String {
        while !self.open.is_empty() {
            self.end();
        }
        self.out
    }
}

/// The `ResponseMetadata` every successful response ends with.
pub(crate) fn response_metadata(doc: &mut XmlDoc, request_id: &str) {
    doc.start("ResponseMetadata")
        .text("RequestId", request_id)
        .end();
}

/// An `ErrorResponse` document.
pub(crate) fn error_response(code: &str, message: &str, sender: bool, request_id: &str) -> String {
    let mut doc = XmlDoc::new("ErrorResponse");
    doc.start("Error")
        .text("Type", if sender { "Sender" } else { "Receiver" })
        .text("Code", code)
        .text("Message", message)
        .end()
        .text("RequestId", request_id);
    doc.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_control_characters() {
        let mut s = String::new();
        escape_into(&mut s, "a<b>&'\"\t\n\r\u{1}\u{7f}é");
        assert_eq!(s, "a&lt;b&gt;&amp;&apos;&quot;\t\n&#xD;&#x1;&#x7F;é");
    }

    #[test]
    fn documents_nest_and_close() {
        let mut doc = XmlDoc::new("R");
        doc.start("A").value("N", 3).text("T", "x&y");
        assert_eq!(
            doc.finish(),
            format!("<R xmlns=\"{RDS_XMLNS}\"><A><N>3</N><T>x&amp;y</T></A></R>")
        );
    }
}
