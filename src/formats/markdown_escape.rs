//! Text from the database as Markdown that renders as exactly itself, in
//! CommonMark and on GitHub (cmark-gfm) alike: never as syntax, a link or an
//! image. Only what could open syntax where it stands is backslash-escaped
//! (every ASCII punctuation character may be), so the file stays readable.
//!
//! GitHub links bare `scheme://` and `www.` text by scanning the raw line,
//! backslashes included, which is why URLs are not left bare: the `:` of
//! `://` and the `.` of `www.` are escaped, so neither renderer links them
//! and a URL never carries markup of its own (`[text](target)`, `![p](src)`)
//! into a link. GitHub still shows an e-mail address as a `mailto:` link to
//! exactly that address; escapes cannot stop that, and it cannot point
//! anywhere else.

use std::fmt::Write;

use crate::pg::interrupts::{self, PIECE_BYTES};

/// Punctuation that can open or close inline Markdown anywhere in a line:
/// CommonMark's and GitHub's (strikethrough, tables, footnotes). All ASCII,
/// so a byte lookup finds it.
const INLINE_SPECIAL: &[u8] = b"\\`*_[]<>!&~|#";

/// Whether `_` at `index` sits between two alphanumerics: CommonMark never
/// lets such an underscore open or close emphasis, so it needs no escape.
fn intraword_underscore(body: &str, index: usize) -> bool {
    let before = body[..index].chars().next_back();
    let after = body[index + 1..].chars().next();
    before.is_some_and(char::is_alphanumeric) && after.is_some_and(char::is_alphanumeric)
}

/// Whether the byte at `index` starts GitHub's bare-URL autolinks: the `:`
/// of `scheme://`, or the `.` of `www.`.
fn opens_autolink(bytes: &[u8], index: usize) -> bool {
    match bytes[index] {
        b':' => bytes[index + 1..].starts_with(b"//"),
        b'.' => index >= 3 && &bytes[index - 3..index] == b"www",
        _ => false,
    }
}

/// Bytes that may need an escape, depending on where they stand: the
/// inline specials, line-start markers, `.`/`)` of ordered-list markers and
/// `www.`, the `:` of `://`, and CR. Every other byte is copied as it is.
const MAY_NEED_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut index = 0;
    while index < INLINE_SPECIAL.len() {
        table[INLINE_SPECIAL[index] as usize] = true;
        index += 1;
    }
    let others = b"\r-+=.):";
    let mut index = 0;
    while index < others.len() {
        table[others[index] as usize] = true;
        index += 1;
    }
    table
};

/// Whether the byte at `index` (one of `MAY_NEED_ESCAPE`) would open syntax
/// where it stands; `digits_before`: the length of the line's leading run of
/// digits when `body` begins a line, else 0.
fn opens_syntax(body: &str, index: usize, line_start: bool, digits_before: usize) -> bool {
    let bytes = body.as_bytes();
    match bytes[index] {
        b'_' => !intraword_underscore(body, index),
        b'-' | b'+' | b'=' => line_start && index == 0,
        b'.' => (index > 0 && index == digits_before) || opens_autolink(bytes, index),
        b')' => index > 0 && index == digits_before,
        b':' => opens_autolink(bytes, index),
        _ => true,
    }
}

/// Append `body` to `out` with every byte escaped that could open syntax
/// where it stands; `line_start`: `body` begins a line, where list, heading
/// and setext markers count.
fn escape_body(body: &str, line_start: bool, out: &mut String) {
    let bytes = body.as_bytes();
    let digits_before = if line_start {
        bytes.iter().take_while(|b| b.is_ascii_digit()).count()
    } else {
        0
    };
    // Unescaped text is copied in runs; every byte that needs attention is
    // ASCII, so the run boundaries fall between characters.
    let mut run_start = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        if index % PIECE_BYTES == PIECE_BYTES - 1 {
            interrupts::check();
        }
        if !MAY_NEED_ESCAPE[byte as usize]
            || !(byte == b'\r' || opens_syntax(body, index, line_start, digits_before))
        {
            continue;
        }
        out.push_str(&body[run_start..index]);
        if byte == b'\r' {
            out.push_str("&#13;");
        } else {
            out.push('\\');
            out.push(byte as char);
        }
        run_start = index + 1;
    }
    out.push_str(&body[run_start..]);
}

/// One line of text, escaped so that it renders literally: only what could
/// start Markdown syntax where it stands.
pub fn escape_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 8);
    escape_line_into(line, &mut out);
    out
}

/// `escape_line`, appended to `out`.
pub fn escape_line_into(line: &str, out: &mut String) {
    let body_start = line.len() - line.trim_start_matches(char::is_whitespace).len();
    let body_end = line
        .trim_end_matches(char::is_whitespace)
        .len()
        .max(body_start);
    // Leading and trailing blanks would be stripped (or turn into code blocks
    // and hard breaks); as character references they are kept as text.
    for ch in line[..body_start].chars() {
        write!(out, "&#{};", ch as u32).unwrap();
    }
    let body = &line[body_start..body_end];
    escape_body(body, true, out);
    for ch in line[body_end..].chars() {
        write!(out, "&#{};", ch as u32).unwrap();
    }
}

/// A table cell's text, each line escaped (cells hold no block syntax),
/// joined by `<br>`: a Markdown table row is one line.
pub fn escape_table_cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for (number, line) in text
        .split("\r\n")
        .flat_map(|l| l.split(['\r', '\n']))
        .enumerate()
    {
        if number > 0 {
            out.push_str("<br>");
        }
        escape_body(line, false, &mut out);
    }
    out
}

/// Single-line text for headings and bullets: line breaks become spaces.
pub fn escape_inline(text: &str) -> String {
    escape_line(&text.replace(['\r', '\n', '\u{2028}', '\u{2029}'], " "))
}

#[cfg(test)]
mod tests {
    use super::escape_line;

    #[test]
    fn markdown_syntax_is_escaped() {
        assert_eq!(escape_line("# title"), "\\# title");
        assert_eq!(escape_line("---"), "\\---");
        assert_eq!(escape_line("> quote"), "\\> quote");
        assert_eq!(escape_line("```"), "\\`\\`\\`");
        assert_eq!(escape_line("1. item"), "1\\. item");
        assert_eq!(escape_line("    code"), "&#32;&#32;&#32;&#32;code");
        assert_eq!(escape_line("end  "), "end&#32;&#32;");
        assert_eq!(escape_line("a\rb"), "a&#13;b");
        assert_eq!(escape_line("plain, text."), "plain, text.");
        assert_eq!(escape_line("snake_case_name"), "snake_case_name");
        assert_eq!(
            escape_line("_emphasis_ and a*b"),
            "\\_emphasis\\_ and a\\*b"
        );
    }

    #[test]
    fn urls_are_text_that_cannot_link() {
        assert_eq!(
            escape_line("https://example.com/[Reset](https://evil.example/reset)"),
            "https\\://example.com/\\[Reset\\](https\\://evil.example/reset)"
        );
        assert_eq!(
            escape_line("www.example.com/![p](https://evil.example/t.png)"),
            "www\\.example.com/\\!\\[p\\](https\\://evil.example/t.png)"
        );
        assert_eq!(
            escape_line("see https://example.com/a_b?x=1&y=2#top now"),
            "see https\\://example.com/a_b?x=1\\&y=2\\#top now"
        );
        assert_eq!(
            escape_line("税金 https://例え.jp/a_b"),
            "税金 https\\://例え.jp/a_b"
        );
        assert_eq!(escape_line("time 10:30, a.b"), "time 10:30, a.b");
    }
}
