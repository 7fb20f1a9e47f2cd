//! What a run of a saved export brings from its earlier runs into the
//! pipeline: the increment's window and the examples already emitted.

use crate::export::increment_window::IncrementWindow;
use crate::training::duplicates::EmittedExamples;

#[derive(Default)]
pub struct Continuation {
    /// `"since": "last"`: conversations earlier increments exported.
    pub window: Option<IncrementWindow>,
    /// `"dedupe": "history"`: examples earlier runs emitted.
    pub emitted: Option<EmittedExamples>,
}
