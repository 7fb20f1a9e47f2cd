//! Markdown for human review, one row per conversation, after the seeds' template:
//! `# Conversation: <title>`, a metadata bullet list, `## Conversation`, each
//! turn as `**Role:**` over a blockquote, `---` between conversations.
//!
//! Text from the database is escaped so that it renders as exactly itself:
//! content that looks like Markdown (headings, rules, quotes, fences, lists,
//! emphasis, HTML) stays literal text inside its blockquote.

use std::fmt::Write;

use super::tool_calls::{ReadableEntry, readable};
use super::{ExportFormat, Rows, Skip, exported_content};
use crate::config::{ExportConfig, Include};
use crate::export::source::Conversation;

/// Punctuation that can start or close inline Markdown anywhere in a line
/// (all ASCII, so a byte lookup finds it).
const INLINE_SPECIAL: &[u8] = b"\\`*_[]<>!&~|#";

const IS_INLINE_SPECIAL: [bool; 128] = {
    let mut table = [false; 128];
    let mut index = 0;
    while index < INLINE_SPECIAL.len() {
        table[INLINE_SPECIAL[index] as usize] = true;
        index += 1;
    }
    table
};

/// Where bare URLs stand in `text` (byte ranges): GitHub's renderer
/// (cmark-gfm) links `http://`, `https://` and `www.` runs up to the next
/// blank or `<`, and keeps a backslash inside one as part of the link.
fn url_spans(text: &str) -> Vec<(usize, usize)> {
    // Most lines hold no URL: one byte search rules them out.
    if !text.contains("http") && !text.contains("www.") {
        return Vec::new();
    }
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut resume = 0;
    for (index, _) in text.char_indices() {
        if index < resume {
            continue;
        }
        let rest = &text[index..];
        let at_word_start =
            index == 0 || matches!(bytes[index - 1], b' ' | b'\t' | b'(' | b'*' | b'_' | b'~');
        if at_word_start
            && (rest.starts_with("http://")
                || rest.starts_with("https://")
                || rest.starts_with("www."))
        {
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '<')
                .map_or(bytes.len(), |length| index + length);
            spans.push((index, end));
            resume = end;
        }
    }
    spans
}

/// Whether `_` at `index` sits between two alphanumerics: CommonMark never
/// lets such an underscore open or close emphasis, so it needs no escape.
fn intraword_underscore(body: &str, index: usize) -> bool {
    let before = body[..index].chars().next_back();
    let after = body[index + 1..].chars().next();
    before.is_some_and(char::is_alphanumeric) && after.is_some_and(char::is_alphanumeric)
}

/// Inside a URL only what could still start inline syntax there is
/// escaped, so GitHub keeps the link whole: backticks, and `*` / `_` that
/// could open or close emphasis.
fn escape_in_url(body: &str, index: usize, byte: u8) -> bool {
    match byte {
        b'`' => true,
        b'*' | b'_' => !intraword_underscore(body, index),
        _ => false,
    }
}

/// One line of text, escaped so CommonMark and GitHub (cmark-gfm) render it
/// literally: only what could start Markdown syntax where it stands.
pub fn escape_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 8);
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
    // Unescaped text is copied in runs; every byte that needs attention is
    // ASCII, so the run boundaries fall between characters.
    let mut run_start = 0;
    let mut only_digits_before = true;
    let urls = url_spans(body);
    let mut url = urls.iter().peekable();
    for (index, &byte) in body.as_bytes().iter().enumerate() {
        while url.peek().is_some_and(|(_, end)| *end <= index) {
            url.next();
        }
        let in_url = url.peek().is_some_and(|(start, _)| *start <= index);
        let list_marker = index == 0 && matches!(byte, b'-' | b'+' | b'=');
        let ordered_marker = matches!(byte, b'.' | b')') && index > 0 && only_digits_before;
        let special = if in_url {
            escape_in_url(body, index, byte)
        } else {
            byte < 128
                && IS_INLINE_SPECIAL[byte as usize]
                && !(byte == b'_' && intraword_underscore(body, index))
        };
        if byte == b'\r' || special || list_marker || ordered_marker {
            out.push_str(&body[run_start..index]);
            if byte == b'\r' {
                out.push_str("&#13;");
            } else {
                out.push('\\');
                out.push(byte as char);
            }
            run_start = index + 1;
        }
        only_digits_before = only_digits_before && byte.is_ascii_digit();
    }
    out.push_str(&body[run_start..]);
    for ch in line[body_end..].chars() {
        write!(out, "&#{};", ch as u32).unwrap();
    }
    out
}

/// Single-line text for headings and bullets: line breaks become spaces.
fn escape_inline(text: &str) -> String {
    escape_line(&text.replace(['\r', '\n', '\u{2028}', '\u{2029}'], " "))
}

fn role_label(role: &str) -> &'static str {
    match role {
        "user" => "**User:**",
        "assistant" => "**Assistant:**",
        _ => "**System:**",
    }
}

pub struct Markdown {
    include: Include,
    written: i64,
}

impl Markdown {
    pub fn new(config: &ExportConfig) -> Self {
        Markdown {
            include: config.include.clone(),
            written: 0,
        }
    }

    fn metadata(&self, conversation: &Conversation, rows: &mut Rows) {
        let c = conversation;
        let include = &self.include;
        let mut bullet = |label: &str, value: &str| {
            rows.push_back(format!("- {label}: {}", escape_inline(value)))
        };
        bullet("ID", &c.conversation_id);
        bullet("Status", &c.status);
        bullet("Tier", &c.tier);
        if include.quality_scores
            && let Some(score) = c.quality_score
        {
            bullet("Quality Score", &score.to_string());
        }
        for (label, value) in [
            ("Persona", &c.persona),
            ("Emotion", &c.emotion),
            ("Topic", &c.topic),
        ] {
            if let Some(value) = value {
                bullet(label, value);
            }
        }
        if !c.category.is_empty() {
            bullet("Category", &c.category.join(", "));
        }
        if include.timestamps {
            bullet("Created", &c.created_at);
            bullet("Updated", &c.updated_at);
        }
        if include.parent_references
            && let (Some(kind), Some(id)) = (&c.parent_type, &c.parent_id)
        {
            bullet("Parent", &format!("{kind} {id}"));
        }
        if include.approval_history {
            bullet("Review History", &c.review_history.to_string());
        }
    }
}

impl ExportFormat for Markdown {
    fn conversation(&mut self, conversation: &Conversation, rows: &mut Rows) -> Result<(), Skip> {
        if self.written > 0 {
            rows.push_back("---".into());
            rows.push_back(String::new());
        }
        self.written += 1;
        let title = conversation.title.as_deref().unwrap_or("(untitled)");
        rows.push_back(format!("# Conversation: {}", escape_inline(title)));
        rows.push_back(String::new());
        if self.include.metadata {
            rows.push_back("**Metadata:**".into());
            self.metadata(conversation, rows);
            rows.push_back(String::new());
        }
        rows.push_back("## Conversation".into());
        rows.push_back(String::new());
        for turn in &conversation.turns {
            for entry in readable(turn) {
                let (label, content) = match entry {
                    // An assistant turn that only calls tools shows just its calls.
                    ReadableEntry::Turn { content, .. }
                        if content.is_empty() && turn.tool_calls.is_some() =>
                    {
                        continue;
                    }
                    ReadableEntry::Turn {
                        role: "tool",
                        call_id,
                        content,
                    } => (
                        format!(
                            "**Tool result ({}):**",
                            escape_inline(call_id.unwrap_or("?"))
                        ),
                        exported_content(content, self.include.full_content),
                    ),
                    ReadableEntry::Turn { role, content, .. } => (
                        role_label(role).to_string(),
                        exported_content(content, self.include.full_content),
                    ),
                    ReadableEntry::Call {
                        id,
                        name,
                        arguments,
                    } => (
                        format!(
                            "**Tool call ({}):** {}",
                            escape_inline(&id),
                            escape_inline(&name)
                        ),
                        std::borrow::Cow::Owned(arguments),
                    ),
                };
                rows.push_back(label);
                for line in content.split('\n') {
                    let escaped = escape_line(line);
                    rows.push_back(if escaped.is_empty() {
                        ">".into()
                    } else {
                        format!("> {escaped}")
                    });
                }
                rows.push_back(String::new());
            }
        }
        Ok(())
    }
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
    }

    #[test]
    fn urls_and_inner_underscores_stay_as_they_are() {
        assert_eq!(
            escape_line("税金 https://例え.jp/a_b"),
            "税金 https://例え.jp/a_b"
        );
        assert_eq!(
            escape_line("see https://example.com/a_b?x=1&y=2#top now"),
            "see https://example.com/a_b?x=1&y=2#top now"
        );
        assert_eq!(escape_line("www.example.com/a_b"), "www.example.com/a_b");
        assert_eq!(escape_line("snake_case_name"), "snake_case_name");
        assert_eq!(
            escape_line("_emphasis_ and a*b"),
            "\\_emphasis\\_ and a\\*b"
        );
        assert_eq!(escape_line("https://x.com/_a_"), "https://x.com/\\_a\\_");
    }
}
