//! `split`: one part of a deterministic train/validation split.

use serde_json::Value;

use crate::config::keywords::{ConfigValue, Part};
use crate::config::values::{canonical_entries, object, shown, wrong_type};
use crate::error::UserError;

/// Which part of a train/validation split an export holds. A conversation is
/// in the validation part when a stable hash of the seed and its id falls
/// below `validation` (a fraction), so the parts are disjoint, together the
/// whole export, and the same in every run, format and job.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub validation: f64,
    pub seed: String,
    pub part: Part,
}

const SPLIT_KEYS: &[&str] = &["validation", "seed", "part"];

pub(super) fn parse_split(value: &Value) -> Result<Split, UserError> {
    let map = object(
        "split",
        value,
        "Give an object such as {\"validation\": 0.1, \"seed\": \"v1\", \"part\": \"train\"}.",
    )?;
    let mut split = Split {
        validation: -1.0,
        seed: String::new(),
        part: Part::Train,
    };
    let mut part_given = false;
    for (key, value) in canonical_entries(map, SPLIT_KEYS, "split")? {
        let full = format!("split.{key}");
        match key.as_str() {
            "validation" => {
                split.validation = value
                    .as_f64()
                    .filter(|v| *v > 0.0 && *v < 1.0)
                    .ok_or_else(|| {
                        UserError::invalid_parameter(
                            format!(
                                "export config key \"{full}\" must be a fraction between 0 and 1, got {}",
                                shown(value)
                            ),
                            "For example 0.1 puts about a tenth of the conversations in the validation part.",
                        )
                    })?
            }
            "seed" => {
                split.seed = value
                    .as_str()
                    .ok_or_else(|| {
                        wrong_type(&full, value, "a string", "Any text; the same seed gives the same split.")
                    })?
                    .to_string()
            }
            "part" => {
                split.part = Part::read(&full, value)?;
                part_given = true;
            }
            _ => unreachable!("canonical_entries admits only SPLIT_KEYS"),
        }
    }
    if split.validation < 0.0 || !part_given {
        return Err(UserError::invalid_parameter(
            "export config key \"split\" needs \"validation\" and \"part\"",
            "For example {\"validation\": 0.1, \"seed\": \"v1\", \"part\": \"train\"}; export the other part with \"part\": \"validation\".",
        ));
    }
    Ok(split)
}
