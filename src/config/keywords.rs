//! The keyword and boolean values a config takes: each keyword option is an
//! enum whose every variant has exactly one spelling, so a value either parses
//! or is an error that lists the valid ones.

use serde_json::Value;

use crate::config::values::{shown, string_list, wrong_type};
use crate::error::UserError;

/// The type of a config value: how it is read from JSON (errors name `key`)
/// and written back for `to_json`.
pub trait ConfigValue: Sized {
    fn read(key: &str, value: &Value) -> Result<Self, UserError>;
    fn to_value(self) -> Value;
}

impl ConfigValue for bool {
    fn read(key: &str, value: &Value) -> Result<bool, UserError> {
        value
            .as_bool()
            .ok_or_else(|| wrong_type(key, value, "a boolean", "Use true or false."))
    }

    fn to_value(self) -> Value {
        Value::Bool(self)
    }
}

macro_rules! keyword_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub(super) fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }

            fn valid_list() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl ConfigValue for $name {
            fn read(key: &str, value: &Value) -> Result<Self, UserError> {
                keyword(key, value, Self::parse, Self::valid_list())
            }

            fn to_value(self) -> Value {
                Value::from(self.as_str())
            }
        }
    };
}

keyword_enum!(
    /// Output file format.
    Format { Jsonl => "jsonl", Json => "json", Csv => "csv", Markdown => "markdown" }
);
keyword_enum!(
    /// Fine-tuning dialect of a JSONL line.
    Target { OpenAi => "openai", Anthropic => "anthropic", ShareGpt => "sharegpt" }
);
keyword_enum!(
    /// Which conversations an export starts from (before filters narrow it).
    Scope { Approved => "approved", All => "all", Selected => "selected", Filtered => "filtered" }
);
keyword_enum!(
    /// Whitelisted sort columns; anything else never reaches SQL.
    SortColumn {
        CreatedAt => "created_at",
        UpdatedAt => "updated_at",
        QualityScore => "quality_score",
        Title => "title",
        ConversationId => "conversation_id",
        TotalTurns => "total_turns",
        TokenCount => "token_count",
        Tier => "tier",
        Status => "status",
    }
);
keyword_enum!(SortDirection { Asc => "asc", Desc => "desc" });
keyword_enum!(LineEnding { Lf => "lf", Crlf => "crlf" });
keyword_enum!(
    /// Conversation review states (the CHECK set of conversations.status).
    Status {
        Draft => "draft",
        Generated => "generated",
        PendingReview => "pending_review",
        Approved => "approved",
        Rejected => "rejected",
        NeedsRevision => "needs_revision",
        Failed => "failed",
    }
);
keyword_enum!(
    /// Conversation tiers (the CHECK set of conversations.tier).
    Tier { Template => "template", Scenario => "scenario", EdgeCase => "edge_case" }
);

keyword_enum!(
    /// OpenAI's encodings: o200k_base (GPT-4o, GPT-4.1, o-series), cl100k_base (GPT-4, GPT-3.5).
    Tokenizer { O200kBase => "o200k_base", Cl100kBase => "cl100k_base" }
);

keyword_enum!(
    /// The part of a split an export holds.
    Part { Train => "train", Validation => "validation" }
);

keyword_enum!(
    /// Kinds of personal data an export can redact, named as Microsoft
    /// Presidio names its entities.
    Entity {
        EmailAddress => "email_address",
        PhoneNumber => "phone_number",
        CreditCard => "credit_card",
        IbanCode => "iban_code",
        IpAddress => "ip_address",
        Secret => "secret",
    }
);

impl Entity {
    /// Presidio's label, as placeholders and pseudonyms spell it.
    pub fn label(self) -> &'static str {
        match self {
            Entity::EmailAddress => "EMAIL_ADDRESS",
            Entity::PhoneNumber => "PHONE_NUMBER",
            Entity::CreditCard => "CREDIT_CARD",
            Entity::IbanCode => "IBAN_CODE",
            Entity::IpAddress => "IP_ADDRESS",
            Entity::Secret => "SECRET",
        }
    }
}

keyword_enum!(
    /// What a redacted value becomes: `<EMAIL_ADDRESS>`, or a pseudonym
    /// numbered per distinct value (`<EMAIL_ADDRESS_1>`).
    Redaction { Placeholder => "placeholder", Pseudonym => "pseudonym" }
);

pub(super) fn keyword<T>(
    key: &str,
    value: &Value,
    parse: fn(&str) -> Option<T>,
    valid: String,
) -> Result<T, UserError> {
    let hint = format!("Valid values for \"{key}\": {valid}.");
    let text = value
        .as_str()
        .ok_or_else(|| wrong_type(key, value, "a string", &hint))?;
    parse(text).ok_or_else(|| {
        UserError::invalid_parameter(
            format!(
                "export config key \"{key}\" has invalid value {}",
                shown(value)
            ),
            hint,
        )
    })
}

pub(super) fn keyword_list<T: ConfigValue>(key: &str, value: &Value) -> Result<Vec<T>, UserError> {
    string_list(key, value)?
        .into_iter()
        .map(|text| T::read(key, &Value::String(text)))
        .collect()
}
