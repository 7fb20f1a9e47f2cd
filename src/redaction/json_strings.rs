//! Rewriting the string values of a compact JSON text without parsing it
//! into a tree: numbers keep their digits, keys and structure stay as they
//! are, and only a string value the rewrite changes is re-encoded.

use std::borrow::Cow;

use crate::pg::interrupts::InterruptBudget;

/// The end (exclusive) of the string literal starting at `text[start]` (a `"`).
fn literal_end(text: &[u8], start: usize, budget: &mut InterruptBudget) -> usize {
    let mut at = start + 1;
    while at < text.len() {
        match text[at] {
            b'\\' => at += 2,
            b'"' => return at + 1,
            _ => at += 1,
        }
        budget.spend(1);
    }
    text.len()
}

/// `json` with `rewrite` applied to every string value (not to keys); None
/// when nothing changed.
pub fn rewrite_string_values(
    json: &str,
    mut rewrite: impl FnMut(&str) -> Cow<'_, str>,
) -> Option<String> {
    let bytes = json.as_bytes();
    let mut budget = InterruptBudget::default();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut at = 0;
    while let Some(offset) = memchr::memchr(b'"', &bytes[at..]) {
        let start = at + offset;
        let end = literal_end(bytes, start, &mut budget);
        at = end;
        let is_key = bytes[end..]
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b':');
        if is_key {
            continue;
        }
        let Ok(value) = serde_json::from_str::<String>(&json[start..end]) else {
            continue;
        };
        if let Cow::Owned(changed) = rewrite(&value) {
            let out = out.get_or_insert_with(|| String::with_capacity(json.len()));
            out.push_str(&json[copied..start]);
            out.push_str(&serde_json::to_string(&changed).expect("a string serializes"));
            copied = end;
        }
    }
    out.map(|mut out| {
        out.push_str(&json[copied..]);
        out
    })
}
