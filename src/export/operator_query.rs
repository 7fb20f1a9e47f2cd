//! `export_query(query, config)`: an operator's read-only SELECT, streamed as
//! CSV, JSON, JSONL or a Markdown table and audited like any export (kind
//! `query`): the compliance CSV of the audit log from psql, or a pg_cron job.
//!
//! It takes SQL text, so it is never for API roles: it is granted to nobody
//! (the owner and superusers have it), and it refuses any caller with a JWT
//! identity or an API role, so granting it by mistake opens nothing. The
//! transaction is marked read-only while the query runs; that guards an
//! operator's slip, it is not a sandbox (set_config still works).

use std::time::Instant;

use pgrx::PgSqlErrorCode;
use pgrx::prelude::*;
use serde_json::Value;

use crate::audit::record::refuse_on_a_standby;
use crate::config::{Format, QueryExportConfig};
use crate::error::{OrRaise, UserError};
use crate::export::stream::{self, RowProducer};
use crate::formats::Rows;
use crate::formats::query_result::{Column, JsonKind, TableWriter};
use crate::model::ExportDescription;
use crate::pg::identity::Identity;
use crate::pg::identity::IdentityGuard;
use crate::pg::jsonb_arg::ConfigJson;
use crate::pg::portal::{FetchBudget, PinnedPortal};

/// Each fetch stops once its values hold this many bytes.
const FETCH_BUDGET: FetchBudget = FetchBudget {
    max_rows: 1000,
    max_bytes: 4 << 20,
};

/// Roles that PostgREST switches to: SQL text from them is never run.
const API_ROLES: &[&str] = &["anon", "authenticated", "service_role", "authenticator"];

struct QueryRows {
    portal: PinnedPortal,
    output_functions: Vec<pg_sys::Oid>,
    writer: TableWriter,
    is_json: bool,
    /// Rows made but not yet returned, each with the records it carries.
    rows: Rows,
    row_records: std::collections::VecDeque<i64>,
    records_written: i64,
    finished: bool,
}

impl QueryRows {
    fn open(query: &str, config: QueryExportConfig) -> QueryRows {
        let portal = {
            let _read_only = IdentityGuard::read_only();
            PinnedPortal::open(query, &[], false)
        };
        let columns = portal
            .columns()
            .iter()
            .map(|column| Column {
                name: column.name.clone(),
                kind: JsonKind::for_type(column.type_oid),
            })
            .collect();
        let output_functions = portal.output_functions();
        let is_json = config.format == Format::Json;
        let mut writer = TableWriter::new(config, columns);
        let mut rows = Rows::new();
        writer.begin(&mut rows);
        let row_records = rows.iter().map(|_| 0).collect();
        QueryRows {
            portal,
            output_functions,
            writer,
            is_json,
            rows,
            row_records,
            records_written: 0,
            finished: false,
        }
    }

    /// Fetch and write the next batch of records; closes the file at the end.
    fn advance(&mut self) {
        let _read_only = IdentityGuard::read_only();
        let Self {
            portal,
            output_functions,
            writer,
            rows,
            row_records,
            records_written,
            ..
        } = self;
        portal.fetch(FETCH_BUDGET, &mut |row| {
            let values: Vec<Option<String>> = output_functions
                .iter()
                .enumerate()
                .map(|(index, &function)| row.output(index, function))
                .collect();
            let bytes = values.iter().flatten().map(String::len).sum::<usize>() + 16;
            let before = rows.len();
            writer.row(&values, rows);
            row_records.extend((before..rows.len()).map(|_| 1));
            *records_written += 1;
            bytes
        });
        if self.portal.is_exhausted() {
            let before = self.rows.len();
            self.writer.finish(&mut self.rows);
            // JSON releases its held last record first.
            let held = usize::from(self.is_json && self.records_written > 0);
            self.row_records
                .extend((before..self.rows.len()).map(|index| i64::from(index < before + held)));
            self.finished = true;
            self.portal.close();
        }
    }
}

impl RowProducer for QueryRows {
    fn next_row(&mut self) -> Option<(String, i64)> {
        loop {
            if let Some(row) = self.rows.pop_front() {
                return Some((row, self.row_records.pop_front().unwrap_or(0)));
            }
            if self.finished {
                return None;
            }
            self.advance();
        }
    }

    fn close(&mut self) {
        self.portal.close();
    }

    fn counts(&self) -> (i64, i64) {
        (self.records_written, 0)
    }
}

/// SQL text never runs for a caller PostgREST could have sent.
fn refuse_api_callers(identity: &Identity) {
    if identity.user_id.is_some() || API_ROLES.contains(&identity.db_role.as_str()) {
        UserError {
            code: PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            message: format!(
                "export_query runs SQL text and is for operators, not for role {} or a JWT identity",
                identity.db_role
            ),
            hint: "Use export_system.export_conversations() or queue_export() from the API; run export_query from psql or pg_cron as the owner.".into(),
        }
        .raise();
    }
}

/// Export the result of a read-only query as CSV (default), JSON, JSONL or a
/// Markdown table; each returned row is one line of the file.
pub fn stream_query(
    query: &str,
    config: Option<ConfigJson>,
    fcinfo: pg_sys::FunctionCallInfo,
) -> SetOfIterator<'static, String> {
    let started = Instant::now();
    refuse_on_a_standby();
    let config_json = config.map_or(Value::Null, |c| c.into_value("the export_query config"));
    let config = QueryExportConfig::from_json(&config_json).or_raise();
    let identity = Identity::current();
    refuse_api_callers(&identity);
    let description = ExportDescription {
        kind: "query",
        format: config.format.as_str(),
        config: config.to_json(query),
    };
    let producer = QueryRows::open(query, config);
    stream::stream(fcinfo, identity, description, Box::new(producer), started)
}
