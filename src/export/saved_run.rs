//! One run of a saved export: what it continues from, and what it leaves
//! for the next run once it completes, in the same transaction as its
//! audit row (streamed) or its completion (a job).
//!
//! An increment (`"since": "last"`) reads the conversations whose updated_at
//! is at or after its checkpoint's start, skipping those an earlier
//! increment exported at the same updated_at. The next start is not "now":
//! a transaction open while this run takes its snapshot may commit after it
//! with an updated_at from before (its own start, when a trigger sets it
//! from now()). So the next start is the start of the oldest transaction
//! open when the run reads its checkpoint, just before it takes its
//! snapshot, less a second (a transaction publishes its start a moment
//! after its now() is fixed): whatever this snapshot could not see was
//! written by one of those, or by one begun later. The conversations this
//! run read at or after that start are kept, with their updated_at, so the
//! next increment reads them again without exporting them twice.

use pgrx::PgSqlErrorCode;
use pgrx::datum::TimestampWithTimeZone;
use pgrx::pg_sys;

use crate::config::{Dedupe, ExportConfig};
use crate::error::UserError;
use crate::export::continuation::Continuation;
use crate::export::increment_window::IncrementWindow;
use crate::export::pipeline::Exporter;
use crate::export::saved_config::not_found;
use crate::pg::identity::Identity;
use crate::pg::spi;
use crate::store::saved_exports::{
    self as store, CheckpointMove, CheckpointUse, CompletedIncrement,
};
use crate::training::duplicates::EmittedExamples;

/// How the run reads its checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    /// Streamed: it holds its checkpoint until its transaction ends, so
    /// runs of one saved export part follow each other.
    Streamed,
    /// A background job, over several transactions: it fails at the end if
    /// another run completed meanwhile.
    Background,
    /// A preview or a training report: it shows what the next increment
    /// would hold and moves nothing.
    Look,
}

/// Taken off the oldest open transaction's start: covers the moment
/// between a transaction fixing its now() and publishing its start, and
/// small steps of the clock. Costs only re-reads, which the window skips.
const START_MARGIN_MICROS: i64 = 1_000_000;

struct IncrementStart {
    part: &'static str,
    increments_read: i32,
    /// Where the next increment starts (microseconds since 2000-01-01 UTC).
    next_from: i64,
}

pub struct SavedRun {
    name: String,
    saved_export: pgrx::Uuid,
    increment: Option<IncrementStart>,
    records_history: bool,
}

fn micros(timestamp: TimestampWithTimeZone) -> i64 {
    pg_sys::TimestampTz::from(timestamp)
}

fn timestamp(micros: i64) -> TimestampWithTimeZone {
    TimestampWithTimeZone::try_from(micros)
        .unwrap_or_else(|_| pgrx::error!("export_system: {micros} is not a valid time"))
}

/// An increment's next start comes from the snapshot it is about to take:
/// in READ COMMITTED each query takes a new one, after the checkpoint is read.
fn refuse_outside_read_committed() {
    let isolation = spi::read_one::<String>(
        "reading the transaction's isolation",
        "SELECT pg_catalog.current_setting('transaction_isolation')",
        &[],
    );
    if isolation.as_deref() != Some("read committed") {
        UserError {
            code: PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            message: format!(
                "an increment (\"since\": \"last\") runs in a READ COMMITTED transaction, not {}",
                isolation.unwrap_or_default().to_uppercase()
            ),
            hint: "Run it in its own transaction, or in one begun with ISOLATION LEVEL READ COMMITTED (the default).".into(),
        }
        .raise();
    }
}

impl SavedRun {
    /// For a config made from a saved export: find it for the caller and,
    /// for an increment, read its checkpoint and set where the export reads
    /// from. None for any other config.
    pub fn begin(config: &mut ExportConfig, kind: RunKind) -> Option<(SavedRun, Continuation)> {
        let name = config.saved.clone()?;
        let saved = store::find(&Identity::current(), &name).unwrap_or_else(|| not_found(&name));
        let records_history = config.dedupe == Dedupe::History;
        let emitted = records_history.then(|| EmittedExamples {
            key: saved.fingerprint_key,
            fingerprints: store::emitted_examples(saved.id)
                .into_iter()
                .map(|(fingerprint, export_id)| {
                    (
                        u128::from_be_bytes(*fingerprint.as_bytes()),
                        uuid::Uuid::from_bytes(*export_id.as_bytes()),
                    )
                })
                .collect(),
        });
        let mut window = None;
        let mut increment = None;
        if config.since_last {
            let part = config
                .split
                .as_ref()
                .map_or("all", |split| split.part.as_str());
            let (started, next_from) = Self::start_increment(saved.id, &name, part, kind);
            config.filters.changed_since = started.changed_since.map(micros);
            let exported = match started.changed_since {
                Some(_) => store::window(saved.id, part)
                    .into_iter()
                    .map(|(id, at)| (id, micros(at)))
                    .collect(),
                None => Vec::new(),
            };
            window = Some(IncrementWindow::new(exported, next_from));
            increment = Some(IncrementStart {
                part,
                increments_read: started.increments,
                next_from,
            });
        }
        Some((
            SavedRun {
                name,
                saved_export: saved.id,
                increment,
                records_history,
            },
            Continuation { window, emitted },
        ))
    }

    /// The checkpoint, and where the next increment will start.
    fn start_increment(
        saved_export: pgrx::Uuid,
        name: &str,
        part: &str,
        kind: RunKind,
    ) -> (store::Checkpoint, i64) {
        if kind == RunKind::Look {
            return (
                store::checkpoint(saved_export, part, CheckpointUse::Read),
                i64::MAX,
            );
        }
        refuse_outside_read_committed();
        let use_ = match kind {
            RunKind::Streamed => CheckpointUse::Lock,
            _ => CheckpointUse::Make,
        };
        let checkpoint = store::checkpoint(saved_export, part, use_);
        let open = store::open_transactions();
        if !open.sees_every_session {
            UserError {
                code: PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
                message: "an increment needs the extension's owner to see when every open transaction began, and it cannot".into(),
                hint: "Grant pg_read_all_stats to the role that owns export_system (or install it as a superuser).".into(),
            }
            .raise();
        }
        let oldest = micros(open.oldest_start) - START_MARGIN_MICROS;
        let next_from = match (open.start_unknown, checkpoint.changed_since) {
            (false, _) => oldest,
            // A transaction whose start is recorded nowhere began after the
            // last increment's start (it was not open then, or that start
            // stayed put too): the start stays where it was.
            (true, Some(since)) => oldest.min(micros(since)),
            (true, None) => UserError {
                code: PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                message: format!(
                    "the first increment of saved export \"{name}\" cannot start while a transaction whose start nobody records is open"
                ),
                hint: "Commit or roll back the prepared transactions (pg_prepared_xacts), and end the sessions that run with track_activities off, then run it: what they changed could be missed.".into(),
            }
            .raise(),
        };
        (checkpoint, next_from)
    }

    /// The run completed: move the checkpoint and record what it emitted,
    /// in the transaction that records its completion.
    pub fn complete(&self, export_id: &str, exporter: &Exporter) {
        if let Some(increment) = &self.increment {
            let done = CompletedIncrement {
                saved_export: self.saved_export,
                part: increment.part,
                export_id,
                increments_read: increment.increments_read,
                changed_since: timestamp(increment.next_from),
                read_again: exporter
                    .read_again()
                    .into_iter()
                    .map(|(id, at)| (id, timestamp(at)))
                    .collect(),
            };
            match store::complete_increment(&done) {
                CheckpointMove::Moved(number) => store::record_increment(export_id, number),
                CheckpointMove::MovedByAnother => UserError {
                    code: PgSqlErrorCode::ERRCODE_T_R_SERIALIZATION_FAILURE,
                    message: format!(
                        "another increment of saved export \"{}\" ({}) completed while this one ran",
                        self.name, increment.part
                    ),
                    hint: "Run it again: it exports what is new since that one.".into(),
                }
                .raise(),
                CheckpointMove::Gone => UserError {
                    code: PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
                    message: format!(
                        "saved export \"{}\" was dropped or given another config while this increment ran",
                        self.name
                    ),
                    hint: "Run the increment again: it starts from the saved export as it is now.".into(),
                }
                .raise(),
            }
        }
        if self.records_history {
            let fingerprints: Vec<pgrx::Uuid> = exporter
                .kept_fingerprints()
                .into_iter()
                .map(|fingerprint| pgrx::Uuid::from_bytes(fingerprint.to_be_bytes()))
                .collect();
            store::record_emitted(self.saved_export, export_id, &fingerprints);
        }
    }
}
