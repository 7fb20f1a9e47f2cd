//! Whether `json` text (as the `json` type stores it: valid JSON, escapes
//! unresolved) can become `jsonb` and text at all. PostgreSQL's text holds
//! neither U+0000 nor half of a surrogate pair, so `\u0000` or an unpaired
//! `\uD800`-`\uDFFF` escape makes every cast of the value fail; the export
//! skips such a conversation instead of failing as a whole.

/// The four hex digits of a `\u` escape starting at `at` (after the `u`).
fn escaped_unit(bytes: &[u8], at: usize) -> Option<u16> {
    let digits = std::str::from_utf8(bytes.get(at..at + 4)?).ok()?;
    u16::from_str_radix(digits, 16).ok()
}

/// True when every string escape of `json` is one text can hold.
pub fn is_readable(json: &str) -> bool {
    let bytes = json.as_bytes();
    let mut index = 0;
    while let Some(offset) = bytes[index..].iter().position(|&b| b == b'\\') {
        let escape = index + offset;
        index = escape + 2;
        if bytes.get(escape + 1) != Some(&b'u') {
            continue;
        }
        let Some(unit) = escaped_unit(bytes, escape + 2) else {
            return false;
        };
        index = escape + 6;
        match unit {
            0 => return false,
            0xD800..=0xDBFF => {
                let low = (bytes.get(index..index + 2) == Some(b"\\u"))
                    .then(|| escaped_unit(bytes, index + 2))
                    .flatten();
                if !low.is_some_and(|low| (0xDC00..=0xDFFF).contains(&low)) {
                    return false;
                }
                index += 6;
            }
            0xDC00..=0xDFFF => return false,
            _ => {}
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::is_readable;

    #[test]
    fn text_holds_no_nul_and_no_lone_surrogate() {
        assert!(is_readable(
            r#"[{"role": "user", "content": "hi \u00e9 \ud83d\ude00"}]"#
        ));
        assert!(is_readable(r#"["a \\u0000 is just text here", "\\\\"]"#));
        assert!(!is_readable(r#"[{"content": "a\u0000b"}]"#));
        assert!(!is_readable(r#"["\ud800"]"#));
        assert!(!is_readable(r#"["\ud800\u0041"]"#));
        assert!(!is_readable(r#"["\udc00"]"#));
        assert!(is_readable(r#"["\\\ud83d\ude00"]"#));
    }
}
