//! The parameters of SQL text the extension builds: values only ever travel
//! as arguments; the text holds `$n` placeholders, constants and
//! whitelisted identifiers.

use pgrx::IntoDatum;
use pgrx::datum::DatumWithOid;

#[derive(Default)]
pub struct SqlArgs {
    pub values: Vec<DatumWithOid<'static>>,
}

impl SqlArgs {
    /// Add `value`; returns its placeholder (`$1`, `$2`, …).
    pub fn arg(&mut self, value: impl IntoDatum + 'static) -> String {
        self.values.push(value.into());
        format!("${}", self.values.len())
    }
}
