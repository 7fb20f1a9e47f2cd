//! `saved_exports` and what continuous exports keep beside them: each saved
//! export's checkpoints, the window of conversations its next increment reads
//! again, and the fingerprints of the examples it emitted. Everything runs as
//! the extension's owner, for the owner the caller's identity names: no API
//! role has a grant on these tables.

use pgrx::JsonB;
use pgrx::datum::TimestampWithTimeZone;
use pgrx::prelude::*;
use serde_json::Value;

use crate::pg::identity::{Identity, as_extension_owner};
use crate::pg::spi;
use crate::store::write;

/// Rows of `identity`'s saved exports: a JWT subject's, or without one the
/// database role's own (as `export_logs`' ownership).
const OWNED_BY: &str = "((s.user_id OPERATOR(pg_catalog.=) $1::pg_catalog.uuid) \
     OR ($1::pg_catalog.uuid IS NULL AND s.user_id IS NULL \
         AND s.db_role OPERATOR(pg_catalog.=) $2::pg_catalog.text))";

fn owner_args(identity: &Identity) -> [pgrx::datum::DatumWithOid<'static>; 2] {
    [
        identity.user_id.clone().into(),
        identity.db_role.clone().into(),
    ]
}

/// One of the owner's saved exports.
pub struct SavedExport {
    pub id: pgrx::Uuid,
    pub config: Value,
    /// Keys the history fingerprints: the uuid's two halves.
    pub fingerprint_key: (u64, u64),
}

/// `identity`'s saved export called `name`, if any.
pub fn find(identity: &Identity, name: &str) -> Option<SavedExport> {
    let [user_id, db_role] = owner_args(identity);
    let (id, config, key) = as_extension_owner(|| {
        spi::read_three::<pgrx::Uuid, JsonB, pgrx::Uuid>(
            "reading a saved export",
            &format!(
                "SELECT s.id, s.config, s.fingerprint_key FROM export_system.saved_exports s \
                 WHERE {OWNED_BY} AND s.name OPERATOR(pg_catalog.=) $3::pg_catalog.text"
            ),
            &[user_id, db_role, name.into()],
        )
    });
    let key = uuid::Uuid::from_bytes(*key?.as_bytes()).as_u64_pair();
    Some(SavedExport {
        id: id?,
        config: config?.0,
        fingerprint_key: key,
    })
}

/// Create or replace `identity`'s saved export `name`; returns its row as
/// jsonb. A replaced config that differs starts the increments over: its
/// checkpoints stood for the old selection.
pub fn save(identity: &Identity, name: &str, config: &Value) -> Value {
    let [user_id, db_role] = owner_args(identity);
    let args = [user_id, db_role, name.into(), JsonB(config.clone()).into()];
    as_extension_owner(|| {
        let replaced = Spi::connect_mut(|client| {
            let table = client.update(
                &format!(
                    "SELECT s.id, s.config OPERATOR(pg_catalog.=) $4 FROM export_system.saved_exports s \
                     WHERE {OWNED_BY} AND s.name OPERATOR(pg_catalog.=) $3::pg_catalog.text FOR UPDATE"
                ),
                Some(1),
                &args,
            )?;
            if table.is_empty() {
                return Ok(None);
            }
            let row = table.first();
            Ok::<_, pgrx::spi::Error>(row.get::<pgrx::Uuid>(1)?.zip(row.get::<bool>(2)?))
        })
        .unwrap_or_else(|error| spi::fail("reading a saved export", error));
        write(
            "saving an export",
            "INSERT INTO export_system.saved_exports (user_id, db_role, name, config) \
             VALUES ($1::pg_catalog.uuid, $2, $3, $4) \
             ON CONFLICT ((COALESCE(user_id::text, 'role:' || db_role)), name) \
             DO UPDATE SET config = EXCLUDED.config, updated_at = pg_catalog.now()",
            &args,
        );
        if let Some((id, false)) = replaced {
            write(
                "starting a saved export's increments over",
                "DELETE FROM export_system.saved_export_checkpoints \
                 WHERE saved_export OPERATOR(pg_catalog.=) $1",
                &[id.into()],
            );
        }
    });
    listed(identity, Some(name))
        .as_array()
        .and_then(|rows| rows.first().cloned())
        .unwrap_or(Value::Null)
}

/// `identity`'s saved exports (or the one called `name`) as a jsonb array,
/// by name, each with its checkpoints.
pub fn listed(identity: &Identity, name: Option<&str>) -> Value {
    let [user_id, db_role] = owner_args(identity);
    as_extension_owner(|| {
        spi::read_one::<JsonB>(
            "listing saved exports",
            &format!(
                "SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object( \
                   'name', s.name, 'config', s.config, \
                   'created_at', s.created_at, 'updated_at', s.updated_at, \
                   'increments', (SELECT COALESCE(pg_catalog.jsonb_object_agg(c.part, pg_catalog.jsonb_build_object( \
                                     'completed', c.increments, 'last_export_id', c.last_export_id, \
                                     'changed_since', c.changed_since, 'at', c.updated_at)), '{{}}') \
                                  FROM export_system.saved_export_checkpoints c \
                                  WHERE c.saved_export OPERATOR(pg_catalog.=) s.id)) \
                   ORDER BY s.name), '[]') \
                 FROM export_system.saved_exports s \
                 WHERE {OWNED_BY} AND ($3::pg_catalog.text IS NULL OR s.name OPERATOR(pg_catalog.=) $3::pg_catalog.text)"
            ),
            &[user_id, db_role, name.map(str::to_string).into()],
        )
    })
    .map_or(Value::Array(Vec::new()), |json| json.0)
}

/// Drop `identity`'s saved export `name` with its checkpoints and
/// fingerprints; whether there was one.
pub fn drop(identity: &Identity, name: &str) -> bool {
    let [user_id, db_role] = owner_args(identity);
    write(
        "dropping a saved export",
        &format!(
            "DELETE FROM export_system.saved_exports s \
             WHERE {OWNED_BY} AND s.name OPERATOR(pg_catalog.=) $3::pg_catalog.text"
        ),
        &[user_id, db_role, name.into()],
    ) > 0
}

/// A saved export part's checkpoint, as an increment starts from it.
pub struct Checkpoint {
    pub increments: i32,
    /// None before the first completed increment: everything is new.
    pub changed_since: Option<TimestampWithTimeZone>,
}

/// How an increment reads its checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointUse {
    /// Make it on first use and hold its row until the transaction ends, so
    /// increments of one saved export part run one after the other.
    Lock,
    /// Make it on first use (a job moves it, if still unmoved, at its end).
    Make,
    /// Only read it (a preview or report; also on a standby).
    Read,
}

/// The checkpoint of `saved_export`'s `part`.
pub fn checkpoint(saved_export: pgrx::Uuid, part: &str, use_: CheckpointUse) -> Checkpoint {
    as_extension_owner(|| {
        if use_ != CheckpointUse::Read {
            write(
                "making a saved export's checkpoint",
                "INSERT INTO export_system.saved_export_checkpoints (saved_export, part) VALUES ($1, $2) \
                 ON CONFLICT (saved_export, part) DO NOTHING",
                &[saved_export.into(), part.into()],
            );
        }
        let sql = format!(
            "SELECT increments, changed_since FROM export_system.saved_export_checkpoints \
             WHERE saved_export OPERATOR(pg_catalog.=) $1 AND part OPERATOR(pg_catalog.=) $2::pg_catalog.text{}",
            if use_ == CheckpointUse::Lock {
                " FOR UPDATE"
            } else {
                ""
            }
        );
        let args = [saved_export.into(), part.into()];
        let read = |table: pgrx::spi::SpiTupleTable| {
            if table.is_empty() {
                return Ok(Checkpoint {
                    increments: 0,
                    changed_since: None,
                });
            }
            let row = table.first();
            Ok::<_, pgrx::spi::Error>(Checkpoint {
                increments: row.get::<i32>(1)?.unwrap_or(0),
                changed_since: row.get::<TimestampWithTimeZone>(2)?,
            })
        };
        let checkpoint = if use_ == CheckpointUse::Lock {
            Spi::connect_mut(|client| read(client.update(&sql, Some(1), &args)?))
        } else {
            Spi::connect(|client| read(client.select(&sql, Some(1), &args)?))
        };
        checkpoint.unwrap_or_else(|error| spi::fail("reading a saved export's checkpoint", error))
    })
}

/// The transactions open as an increment starts.
pub struct OpenTransactions {
    /// The start of the oldest, ours included.
    pub oldest_start: TimestampWithTimeZone,
    /// One whose start is recorded nowhere is open: a prepared transaction,
    /// or a session with track_activities off.
    pub start_unknown: bool,
    /// The extension's owner sees every session's transaction start.
    pub sees_every_session: bool,
}

/// The transactions open now, read as the extension's owner.
pub fn open_transactions() -> OpenTransactions {
    as_extension_owner(|| {
        let (oldest, unknown, sees_all) = spi::read_three::<TimestampWithTimeZone, bool, bool>(
            "reading the open transactions",
            "SELECT LEAST((SELECT pg_catalog.min(a.xact_start) FROM pg_catalog.pg_stat_activity a), \
                          pg_catalog.transaction_timestamp()), \
                    EXISTS (SELECT FROM pg_catalog.pg_prepared_xacts) \
                    OR EXISTS (SELECT FROM pg_catalog.pg_stat_activity a \
                               WHERE a.state OPERATOR(pg_catalog.=) 'disabled'), \
                    pg_catalog.pg_has_role(CURRENT_USER, 'pg_read_all_stats', 'USAGE')",
            &[],
        );
        OpenTransactions {
            oldest_start: oldest.expect("the transaction has a start"),
            start_unknown: unknown.unwrap_or(false),
            sees_every_session: sees_all.unwrap_or(false),
        }
    })
}

/// The conversations earlier increments exported that this one reads
/// again, with the updated_at each was exported at.
pub fn window(saved_export: pgrx::Uuid, part: &str) -> Vec<(String, TimestampWithTimeZone)> {
    as_extension_owner(|| {
        Spi::connect(|client| {
            client
                .select(
                    "SELECT conversation, updated_at FROM export_system.saved_export_window \
                     WHERE saved_export OPERATOR(pg_catalog.=) $1 AND part OPERATOR(pg_catalog.=) $2::pg_catalog.text",
                    None,
                    &[saved_export.into(), part.into()],
                )?
                .map(|row| Ok((row.get::<String>(1)?.unwrap_or_default(), row.get::<TimestampWithTimeZone>(2)?)))
                .filter_map(|row: Result<_, pgrx::spi::Error>| match row {
                    Ok((id, Some(at))) => Some(Ok((id, at))),
                    Ok(_) => None,
                    Err(error) => Some(Err(error)),
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap_or_else(|error| spi::fail("reading a saved export's window", error))
    })
}

/// What a completed increment leaves for the next one.
pub struct CompletedIncrement<'a> {
    pub saved_export: pgrx::Uuid,
    pub part: &'a str,
    pub export_id: &'a str,
    /// The checkpoint's count when this run read it: a run that finds it
    /// moved since (another run of the same part completed first) fails.
    pub increments_read: i32,
    pub changed_since: TimestampWithTimeZone,
    /// Conversations this run read at or after `changed_since`.
    pub read_again: Vec<(String, TimestampWithTimeZone)>,
}

/// What became of the checkpoint a completed increment moves.
pub enum CheckpointMove {
    /// Moved: this was the increment with this number (from 1).
    Moved(i32),
    /// Another run of the same part completed first.
    MovedByAnother,
    /// The saved export was dropped, or replaced by another config.
    Gone,
}

/// Rows a statement writes at once: arrays of ids stay far below
/// PostgreSQL's 1 GB limit on one value.
const ROWS_PER_WRITE: usize = 10_000;

/// Move the checkpoint, and keep what the next increment reads again.
pub fn complete_increment(done: &CompletedIncrement) -> CheckpointMove {
    as_extension_owner(|| {
        let increment = Spi::connect_mut(|client| {
            let table = client.update(
                "UPDATE export_system.saved_export_checkpoints \
                 SET increments = increments OPERATOR(pg_catalog.+) 1, changed_since = $4, \
                     last_export_id = $5::pg_catalog.uuid, updated_at = pg_catalog.now() \
                 WHERE saved_export OPERATOR(pg_catalog.=) $1 AND part OPERATOR(pg_catalog.=) $2::pg_catalog.text \
                   AND increments OPERATOR(pg_catalog.=) $3 \
                 RETURNING increments",
                None,
                &[
                    done.saved_export.into(),
                    done.part.into(),
                    done.increments_read.into(),
                    done.changed_since.into(),
                    done.export_id.into(),
                ],
            )?;
            if table.is_empty() {
                return Ok(None);
            }
            table.first().get::<i32>(1)
        })
        .unwrap_or_else(|error| spi::fail("moving a saved export's checkpoint", error));
        let Some(increment) = increment else {
            let exists = spi::read_one::<bool>(
                "reading a saved export's checkpoint",
                "SELECT true FROM export_system.saved_export_checkpoints \
                 WHERE saved_export OPERATOR(pg_catalog.=) $1 AND part OPERATOR(pg_catalog.=) $2::pg_catalog.text",
                &[done.saved_export.into(), done.part.into()],
            );
            return if exists.is_some() {
                CheckpointMove::MovedByAnother
            } else {
                CheckpointMove::Gone
            };
        };
        write(
            "narrowing a saved export's window",
            "DELETE FROM export_system.saved_export_window \
             WHERE saved_export OPERATOR(pg_catalog.=) $1 AND part OPERATOR(pg_catalog.=) $2::pg_catalog.text \
               AND updated_at OPERATOR(pg_catalog.<) $3",
            &[
                done.saved_export.into(),
                done.part.into(),
                done.changed_since.into(),
            ],
        );
        for rows in done.read_again.chunks(ROWS_PER_WRITE) {
            let (ids, stamps): (Vec<String>, Vec<TimestampWithTimeZone>) =
                rows.iter().cloned().unzip();
            write(
                "recording a saved export's window",
                "INSERT INTO export_system.saved_export_window (saved_export, part, conversation, updated_at) \
                 SELECT $1, $2, w.conversation, w.updated_at \
                 FROM ROWS FROM (pg_catalog.unnest($3::pg_catalog.text[]), pg_catalog.unnest($4::pg_catalog.timestamptz[])) AS w(conversation, updated_at) \
                 ON CONFLICT (saved_export, part, conversation) DO UPDATE SET updated_at = EXCLUDED.updated_at",
                &[
                    done.saved_export.into(),
                    done.part.into(),
                    ids.into(),
                    stamps.into(),
                ],
            );
        }
        CheckpointMove::Moved(increment)
    })
}

/// The fingerprints of the examples `saved_export`'s runs emitted, each
/// with the export that emitted it first.
pub fn emitted_examples(saved_export: pgrx::Uuid) -> Vec<(pgrx::Uuid, pgrx::Uuid)> {
    as_extension_owner(|| {
        Spi::connect(|client| {
            client
                .select(
                    "SELECT fingerprint, export_id FROM export_system.saved_export_examples \
                     WHERE saved_export OPERATOR(pg_catalog.=) $1",
                    None,
                    &[saved_export.into()],
                )?
                .map(|row| Ok((row.get::<pgrx::Uuid>(1)?, row.get::<pgrx::Uuid>(2)?)))
                .filter_map(|row: Result<_, pgrx::spi::Error>| match row {
                    Ok((Some(fingerprint), Some(export_id))) => Some(Ok((fingerprint, export_id))),
                    Ok(_) => None,
                    Err(error) => Some(Err(error)),
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap_or_else(|error| spi::fail("reading a saved export's examples", error))
    })
}

/// Record the examples `export_id` emitted for `saved_export`.
pub fn record_emitted(saved_export: pgrx::Uuid, export_id: &str, fingerprints: &[pgrx::Uuid]) {
    for fingerprints in fingerprints.chunks(ROWS_PER_WRITE) {
        write(
            "recording a saved export's examples",
            "INSERT INTO export_system.saved_export_examples (saved_export, fingerprint, export_id) \
             SELECT $1, f.fingerprint, $3::pg_catalog.uuid FROM pg_catalog.unnest($2::pg_catalog.uuid[]) AS f(fingerprint) \
             ON CONFLICT (saved_export, fingerprint) DO NOTHING",
            &[
                saved_export.into(),
                fingerprints.to_vec().into(),
                export_id.into(),
            ],
        );
    }
}

/// The audit row says which increment of its saved export it was.
pub fn record_increment(export_id: &str, increment: i32) {
    write(
        "recording an export's increment",
        "UPDATE export_system.export_logs SET increment = $2 \
         WHERE export_id OPERATOR(pg_catalog.=) $1::pg_catalog.uuid",
        &[export_id.into(), increment.into()],
    );
}
