//! JSON text as the export files carry it, written in one pass into one
//! buffer: compact, or pretty (two spaces per level, from a given depth, as
//! serde_json's pretty printer writes it), with U+2028 and U+2029 escaped
//! inside strings and stored JSON. JSON allows them raw, but JavaScript
//! tooling and line-oriented readers treat them as line breaks.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter};

use super::json_string::{line_separator_at, write_escaped};

/// `value` as JSON text after `prefix`; `pretty`: indented, its nested
/// lines starting at `depth` levels (its first line is not indented).
/// `expected_bytes` sizes the buffer, so a large text is not copied as it grows.
pub fn to_json_text<T: Serialize>(
    prefix: &str,
    value: &T,
    pretty: bool,
    depth: usize,
    expected_bytes: usize,
) -> String {
    let mut out = Vec::with_capacity(expected_bytes.max(256));
    out.extend_from_slice(prefix.as_bytes());
    let formatter = ExportFormatter {
        pretty,
        depth,
        has_value: false,
    };
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    value
        .serialize(&mut serializer)
        .expect("serializing export JSON cannot fail");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

struct ExportFormatter {
    pretty: bool,
    depth: usize,
    has_value: bool,
}

const INDENT: &[u8] = b"  ";

impl ExportFormatter {
    fn new_line<W: ?Sized + Write>(&self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b"\n")?;
        for _ in 0..self.depth {
            writer.write_all(INDENT)?;
        }
        Ok(())
    }

    fn open<W: ?Sized + Write>(&mut self, writer: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        writer.write_all(bracket)
    }

    fn close<W: ?Sized + Write>(&mut self, writer: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth -= 1;
        if self.pretty && self.has_value {
            self.new_line(writer)?;
        }
        writer.write_all(bracket)
    }

    fn element<W: ?Sized + Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        if !first {
            writer.write_all(b",")?;
        }
        if self.pretty {
            self.new_line(writer)?;
        }
        Ok(())
    }
}

/// JSON text with U+2028 and U+2029 as `\u` escapes (a raw one can only
/// stand inside a string).
pub fn escape_line_separators(text: String) -> String {
    let bytes = text.as_bytes();
    if !memchr::memchr_iter(0xE2, bytes).any(|at| line_separator_at(bytes, at).is_some()) {
        return text;
    }
    let mut out = Vec::with_capacity(bytes.len() + 8);
    write_line_safe(&mut out, bytes).expect("writing to a Vec cannot fail");
    String::from_utf8(out).expect("escaping keeps UTF-8")
}

/// Write `text` with U+2028 and U+2029 as `\u` escapes: one vectorised
/// search for their lead byte E2 (common in text), then a look at the next two.
fn write_line_safe<W: ?Sized + Write>(writer: &mut W, text: &[u8]) -> io::Result<()> {
    let mut start = 0;
    for at in memchr::memchr_iter(0xE2, text) {
        let Some(escape) = line_separator_at(text, at) else {
            continue;
        };
        writer.write_all(&text[start..at])?;
        writer.write_all(escape)?;
        start = at + 3;
    }
    writer.write_all(&text[start..])
}

impl Formatter for ExportFormatter {
    /// A text field (`json_string::text`), as a JSON string: no byte array
    /// is ever written.
    fn write_byte_array<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        text: &[u8],
    ) -> io::Result<()> {
        writer.write_all(b"\"")?;
        write_escaped(writer, text)?;
        writer.write_all(b"\"")
    }

    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        write_line_safe(writer, fragment.as_bytes())
    }

    /// Stored JSON, verbatim: a raw U+2028 in it can only be inside a string.
    fn write_raw_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        write_line_safe(writer, fragment.as_bytes())
    }

    fn begin_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.open(writer, b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.close(writer, b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.element(writer, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.open(writer, b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.close(writer, b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.element(writer, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        if self.pretty {
            writer.write_all(b": ")
        } else {
            CompactFormatter.begin_object_value(writer)
        }
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::to_json_text;

    #[test]
    fn compact_and_pretty_match_serde_json() {
        let value =
            json!({"a": [1, {"b": [], "c": {}}], "d": "x\u{2028}y\u{2029}z\u{2026}", "e": [[]]});
        let compact = serde_json::to_string(&value).unwrap();
        let pretty = serde_json::to_string_pretty(&value).unwrap();
        let escaped = |text: String| {
            text.replace('\u{2028}', "\\u2028")
                .replace('\u{2029}', "\\u2029")
        };
        assert_eq!(to_json_text("", &value, false, 0, 0), escaped(compact));
        assert_eq!(
            to_json_text("", &value, true, 0, 0),
            escaped(pretty.clone())
        );
        let nested: String = pretty.replace('\n', "\n    ");
        assert_eq!(to_json_text("", &value, true, 2, 0), escaped(nested));
    }

    #[test]
    fn text_fields_are_strings_as_serde_json_writes_them() {
        #[derive(serde::Serialize)]
        struct Message<'a> {
            #[serde(serialize_with = "crate::formats::json_string::text")]
            content: &'a str,
            #[serde(serialize_with = "crate::formats::json_string::optional_text")]
            name: Option<String>,
            role: &'a str,
        }
        let content = "say \"hi\"\n\t\\ \u{1} \u{2028}\u{2014}é😀";
        let message = Message {
            content,
            name: None,
            role: "user",
        };
        // Keys in byte order, as json! keeps them.
        let same = json!({"content": content, "name": null, "role": "user"});
        let escaped = |text: String| text.replace('\u{2028}', "\\u2028");
        let compact = escaped(serde_json::to_string(&same).unwrap());
        assert_eq!(to_json_text("", &message, false, 0, 0), compact);
        let pretty = escaped(serde_json::to_string_pretty(&same).unwrap());
        assert_eq!(to_json_text("", &message, true, 0, 0), pretty);
    }

    #[test]
    fn stored_json_has_its_line_separators_escaped() {
        let raw = serde_json::value::RawValue::from_string("[\"\u{2028}\"]".into()).unwrap();
        assert_eq!(to_json_text("", &raw, false, 0, 0), "[\"\\u2028\"]");
    }
}
