//! Replacing what the recognizers find, for one export: a placeholder
//! (`<EMAIL_ADDRESS>`) or a pseudonym numbered per distinct value and entity
//! (`<EMAIL_ADDRESS_1>`), the same value getting the same pseudonym
//! throughout the export. Values are told apart by a 128-bit SipHash keyed
//! at random per export: nothing of a value is kept, and pseudonyms cannot
//! be joined across exports. Counts per entity, never values, leave it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::Hasher;

use serde_json::{Map, Value};
use siphasher::sip128::{Hasher128, SipHasher13};

use crate::config::{Entity, Redaction};
use crate::model::{Conversation, StoredJson};
use crate::redaction::json_strings::rewrite_string_values;
use crate::redaction::recognizers::{EntitySet, find};

pub struct Redactor {
    wanted: EntitySet,
    style: Redaction,
    keys: (u64, u64),
    /// Each pseudonymised value's number, by entity and keyed fingerprint.
    pseudonyms: HashMap<(Entity, u128), u64>,
    /// Pseudonyms given so far, per entity (in `Entity::ALL` order).
    given: [u64; Entity::ALL.len()],
    /// Values replaced so far, per entity.
    counts: [u64; Entity::ALL.len()],
}

fn index(entity: Entity) -> usize {
    Entity::ALL
        .iter()
        .position(|e| *e == entity)
        .expect("every entity is in ALL")
}

impl Redactor {
    /// None when the export redacts nothing.
    pub fn for_entities(entities: &[Entity], style: Redaction) -> Option<Redactor> {
        if entities.is_empty() {
            return None;
        }
        let (high, low) = uuid::Uuid::new_v4().as_u64_pair();
        Some(Redactor {
            wanted: entities.iter().copied().collect(),
            style,
            keys: (high, low),
            pseudonyms: HashMap::new(),
            given: [0; Entity::ALL.len()],
            counts: [0; Entity::ALL.len()],
        })
    }

    fn replacement(&mut self, entity: Entity, value: &str) -> String {
        self.counts[index(entity)] += 1;
        match self.style {
            Redaction::Placeholder => format!("<{}>", entity.label()),
            Redaction::Pseudonym => {
                let mut hasher = SipHasher13::new_with_keys(self.keys.0, self.keys.1);
                hasher.write(value.as_bytes());
                let fingerprint = hasher.finish128().as_u128();
                let given = &mut self.given[index(entity)];
                let number = *self
                    .pseudonyms
                    .entry((entity, fingerprint))
                    .or_insert_with(|| {
                        *given += 1;
                        *given
                    });
                format!("<{}_{number}>", entity.label())
            }
        }
    }

    /// `text` with every wanted entity replaced; borrowed when it has none.
    pub fn text<'a>(&mut self, text: &'a str) -> Cow<'a, str> {
        let found = find(text, self.wanted);
        if found.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        for hit in found {
            out.push_str(&text[copied..hit.start]);
            let replacement = self.replacement(hit.entity, &text[hit.start..hit.end]);
            out.push_str(&replacement);
            copied = hit.end;
        }
        out.push_str(&text[copied..]);
        Cow::Owned(out)
    }

    fn in_place(&mut self, text: &mut String) {
        if let Cow::Owned(redacted) = self.text(text) {
            *text = redacted;
        }
    }

    /// The string values of a stored JSON value, redacted (keys, numbers and
    /// structure untouched, so it stays the same valid JSON).
    fn json(&mut self, json: &mut StoredJson) {
        if let Some(rewritten) = rewrite_string_values(json.as_str(), |value| self.text(value)) {
            *json = StoredJson::from_compact(rewritten);
        }
    }

    /// Every text of a conversation that an export writes: title, labels,
    /// categories, turn contents, tool calls (their arguments' strings) and
    /// the string values of its stored JSON (tools, quality metrics, review
    /// history). Ids, roles, statuses and timestamps are the application's
    /// own keys and stay as they are.
    pub fn conversation(&mut self, conversation: &mut Conversation) {
        for text in [
            &mut conversation.title,
            &mut conversation.persona,
            &mut conversation.emotion,
            &mut conversation.topic,
        ]
        .into_iter()
        .flatten()
        {
            self.in_place(text);
        }
        for category in &mut conversation.category {
            self.in_place(category);
        }
        for json in [&mut conversation.tools, &mut conversation.quality_metrics]
            .into_iter()
            .flatten()
        {
            self.json(json);
        }
        self.json(&mut conversation.review_history);
        for turn in &mut conversation.turns {
            self.in_place(&mut turn.content);
            if let Some(calls) = &mut turn.tool_calls {
                self.json(calls);
            }
        }
    }

    /// Values replaced per entity asked for (0 included), for the audit row
    /// and the training report.
    pub fn counts(&self) -> Value {
        let counts: Map<String, Value> = Entity::ALL
            .iter()
            .filter(|entity| self.wanted.contains(**entity))
            .map(|entity| {
                (
                    entity.as_str().to_string(),
                    Value::from(self.counts[index(*entity)]),
                )
            })
            .collect();
        Value::Object(counts)
    }
}
