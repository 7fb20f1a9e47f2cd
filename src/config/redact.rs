//! `redact`: which kinds of personal data an export replaces. `true` (every
//! kind), `false` or a list of entity names; the owner's minimum
//! (`export_system.redact`) is added to whatever a config or preference asks.

use serde_json::Value;

use crate::config::keywords::{ConfigValue, Entity, keyword_list};
use crate::config::values::wrong_type;
use crate::error::UserError;

const HINT: &str = "Give true (every kind), false, or a list of: email_address, phone_number, credit_card, iban_code, ip_address, secret.";

/// The entities, each once, in `Entity::ALL` order.
pub fn normalized(mut entities: Vec<Entity>) -> Vec<Entity> {
    entities.sort_by_key(|entity| Entity::ALL.iter().position(|e| e == entity));
    entities.dedup();
    entities
}

pub(super) fn parse_redact(value: &Value) -> Result<Vec<Entity>, UserError> {
    match value {
        Value::Bool(true) => Ok(Entity::ALL.to_vec()),
        Value::Bool(false) => Ok(Vec::new()),
        Value::Array(_) => Ok(normalized(keyword_list::<Entity>("redact", value)?)),
        other => Err(wrong_type(
            "redact",
            other,
            "true, false or an array of entity names",
            HINT,
        )),
    }
}

/// The owner's minimum, from `export_system.redact`: "" (none), "all", or
/// entity names separated by commas.
pub fn parse_minimum(setting: &str) -> Result<Vec<Entity>, UserError> {
    let setting = setting.trim();
    if setting.eq_ignore_ascii_case("all") {
        return Ok(Entity::ALL.to_vec());
    }
    let names = setting
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty());
    let entities = names
        .map(|name| {
            Entity::read("redact", &Value::String(name.to_string())).map_err(|_| {
                UserError::invalid_parameter(
                    format!("setting export_system.redact names an unknown kind of personal data: \"{name}\""),
                    "An administrator sets it to all, or to names among email_address, phone_number, credit_card, iban_code, ip_address, secret, separated by commas.",
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(normalized(entities))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn redact_takes_true_false_or_names_and_keeps_each_once_in_order() {
        assert_eq!(parse_redact(&json!(true)).unwrap(), Entity::ALL.to_vec());
        assert!(parse_redact(&json!(false)).unwrap().is_empty());
        assert_eq!(
            parse_redact(&json!(["secret", "email_address", "secret"])).unwrap(),
            vec![Entity::EmailAddress, Entity::Secret]
        );
        let unknown = parse_redact(&json!(["email_address", "ssn"])).unwrap_err();
        assert!(unknown.message.contains("\"redact\"") && unknown.message.contains("ssn"));
        assert!(parse_redact(&json!("yes")).is_err());
    }

    #[test]
    fn the_minimum_is_all_none_or_names() {
        assert_eq!(parse_minimum(" ALL ").unwrap(), Entity::ALL.to_vec());
        assert!(parse_minimum("").unwrap().is_empty());
        assert_eq!(
            parse_minimum("secret, email_address").unwrap(),
            vec![Entity::EmailAddress, Entity::Secret]
        );
        let unknown = parse_minimum("email_address, passport").unwrap_err();
        assert!(
            unknown.message.contains("export_system.redact")
                && unknown.message.contains("passport")
        );
    }
}
