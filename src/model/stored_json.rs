//! A jsonb value as Postgres stores it, carried into the file verbatim: no
//! float round-trip (`1e400` keeps its digits, `1.50` its scale) and no
//! nesting limit below Postgres's own, since it is never parsed into a tree.

use std::fmt;

use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

#[derive(Clone)]
pub struct StoredJson(Box<RawValue>);

impl StoredJson {
    /// From jsonb's text output (`{"a": 1, "b": [2, 3]}`), with the spaces
    /// jsonb_out puts after `:` and `,` removed, as compact JSON writes it.
    pub fn from_jsonb_text(text: &str) -> StoredJson {
        let compact = compact(text);
        match RawValue::from_string(compact) {
            Ok(raw) => StoredJson(raw),
            // jsonb_out always writes valid JSON; should it not, the text
            // still reaches the file, as a JSON string.
            Err(_) => {
                StoredJson(serde_json::value::to_raw_value(text).expect("a string serializes"))
            }
        }
    }

    /// From compact JSON text made by the extension itself (a stored value
    /// rewritten), kept as it is.
    pub fn from_compact(json: String) -> StoredJson {
        match RawValue::from_string(json) {
            Ok(raw) => StoredJson(raw),
            Err(error) => unreachable!("a rewritten stored value is JSON: {error}"),
        }
    }

    pub fn empty_array() -> StoredJson {
        StoredJson(RawValue::from_string("[]".into()).expect("[] is JSON"))
    }

    pub fn as_str(&self) -> &str {
        self.0.get()
    }
}

/// Drop whitespace outside strings; strings are copied untouched.
fn compact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for ch in text.chars() {
        if in_string {
            out.push(ch);
            if escaped {
                escaped = false;
            } else if ch == '\\' {
                escaped = true;
            } else if ch == '"' {
                in_string = false;
            }
        } else if ch == '"' {
            in_string = true;
            out.push(ch);
        } else if !matches!(ch, ' ' | '\n' | '\r' | '\t') {
            out.push(ch);
        }
    }
    out
}

impl Serialize for StoredJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl PartialEq for StoredJson {
    fn eq(&self, other: &StoredJson) -> bool {
        self.as_str() == other.as_str()
    }
}

impl fmt::Debug for StoredJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for StoredJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_numbers_and_strings_exactly() {
        let stored = StoredJson::from_jsonb_text(r#"{"a": 1.50, "b": [1e400, "x: \"y\", z"]}"#);
        assert_eq!(stored.as_str(), r#"{"a":1.50,"b":[1e400,"x: \"y\", z"]}"#);
        let wrapped = std::collections::BTreeMap::from([("m", stored)]);
        assert_eq!(
            serde_json::to_string(&wrapped).unwrap(),
            r#"{"m":{"a":1.50,"b":[1e400,"x: \"y\", z"]}}"#
        );
    }

    #[test]
    fn nesting_deeper_than_serde_json_parses() {
        let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        assert_eq!(StoredJson::from_jsonb_text(&deep).as_str(), deep);
    }
}
