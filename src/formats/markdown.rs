//! Markdown for human review, one row per conversation, after the seeds' template:
//! `# Conversation: <title>`, a metadata bullet list, `## Conversation`, each
//! turn as `**Role:**` over a blockquote, `---` between conversations.
//!
//! Text from the database is escaped so that it renders as exactly itself
//! (`markdown_escape`): content that looks like Markdown (headings, rules,
//! quotes, fences, lists, emphasis, HTML, links, images) stays literal text
//! inside its blockquote.

use super::markdown_escape::{escape_inline, escape_line_into};
use super::tool_calls::{ReadableEntry, readable};
use super::{ExportFormat, Rows, Skip, exported_content};
use crate::config::{ExportConfig, Include};
use crate::model::Conversation;

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

    /// `token_count` is the example's count, when counted.
    fn metadata(&self, conversation: &Conversation, token_count: Option<u64>, lines: &mut Lines) {
        let c = conversation;
        let include = &self.include;
        let mut bullet = |label: &str, value: &str| {
            let line = lines.next();
            line.push_str("- ");
            line.push_str(label);
            line.push_str(": ");
            line.push_str(&escape_inline(value));
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
        if let Some(tokens) = token_count.filter(|_| include.token_count) {
            bullet("Token Count", &tokens.to_string());
        }
    }
}

/// A conversation's lines, written into one row: the pipeline would join
/// them with "\n" anyway, and one buffer spares an allocation per line.
struct Lines {
    text: String,
    count: usize,
}

impl Lines {
    /// The buffer, positioned at the start of a new line.
    fn next(&mut self) -> &mut String {
        if self.count > 0 {
            self.text.push('\n');
        }
        self.count += 1;
        &mut self.text
    }

    fn push(&mut self, line: &str) {
        self.next().push_str(line);
    }

    /// `text` as a blockquote, line by line, each line escaped.
    fn quote(&mut self, text: &str) {
        for line in text.split('\n') {
            let out = self.next();
            out.push_str("> ");
            let quoted = out.len();
            escape_line_into(line, out);
            if out.len() == quoted {
                out.pop();
            }
        }
    }
}

impl ExportFormat for Markdown {
    fn conversation(
        &mut self,
        conversation: &Conversation,
        token_count: Option<u64>,
        rows: &mut Rows,
    ) -> Result<(), Skip> {
        let mut lines = Lines {
            text: String::with_capacity(4096),
            count: 0,
        };
        if self.written > 0 {
            lines.push("---");
            lines.push("");
        }
        self.written += 1;
        let title = conversation.title.as_deref().unwrap_or("(untitled)");
        lines.push(&format!("# Conversation: {}", escape_inline(title)));
        lines.push("");
        if self.include.metadata {
            lines.push("**Metadata:**");
            self.metadata(conversation, token_count, &mut lines);
            lines.push("");
        }
        lines.push("## Conversation");
        lines.push("");
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
                lines.push(&label);
                lines.quote(&content);
                lines.push("");
            }
        }
        rows.push_back(lines.text);
        Ok(())
    }
}
