//! `export_query(query, config)`: any read-only SELECT the caller may run,
//! streamed as CSV, JSON, JSONL or a Markdown table and audited like any
//! export (kind `query`). The query runs as the caller, so RLS applies, and
//! with the transaction marked read-only while it runs, so neither the
//! statement nor any function it calls can write.

use std::ffi::CStr;
use std::time::Instant;

use pgrx::JsonB;
use pgrx::prelude::*;
use serde_json::Value;

use crate::audit::Identity;
use crate::config::QueryExportConfig;
use crate::error::{OrRaise, UserError};
use crate::export::{self, ExportDescription, RowProducer};
use crate::format::Rows;
use crate::rate_limit;
use crate::table_format::{Column, JsonKind, TableWriter};

const FETCH_ROWS: i64 = 500;

/// Restores the transaction's read-only flag on every exit, unwinding included.
struct ReadOnlyGuard(bool);

impl ReadOnlyGuard {
    fn enter() -> ReadOnlyGuard {
        // SAFETY: XactReadOnly is what `SET transaction_read_only` sets; every
        // write path (DML, DDL, nextval, …) checks it when it runs.
        unsafe {
            let saved = pg_sys::XactReadOnly;
            pg_sys::XactReadOnly = true;
            ReadOnlyGuard(saved)
        }
    }
}

impl Drop for ReadOnlyGuard {
    fn drop(&mut self) {
        // SAFETY: restores the value saved in `enter`.
        unsafe { pg_sys::XactReadOnly = self.0 };
    }
}

struct QueryRows {
    cursor_name: Option<String>,
    config: QueryExportConfig,
    writer: Option<TableWriter>,
    rows_written: i64,
}

/// Column names and JSON kinds of the last fetch's result.
///
/// # Safety
/// Inside an SPI connection, right after a fetch.
unsafe fn columns_of(tupdesc: pg_sys::TupleDesc) -> Vec<Column> {
    unsafe {
        (1..=(*tupdesc).natts)
            .map(|number| {
                let name = pg_sys::SPI_fname(tupdesc, number);
                Column {
                    name: CStr::from_ptr(name).to_string_lossy().into_owned(),
                    kind: JsonKind::for_type(pg_sys::SPI_gettypeid(tupdesc, number)),
                }
            })
            .collect()
    }
}

impl QueryRows {
    fn open(query: &str, config: QueryExportConfig) -> QueryRows {
        let _read_only = ReadOnlyGuard::enter();
        let cursor_name = Spi::connect(|client| {
            client
                .try_open_cursor(query, &[])
                .map(|cursor| cursor.detach_into_name())
        })
        .unwrap_or_else(|e| {
            UserError::invalid_parameter(
                format!("export_query needs one SELECT statement: {e}"),
                "Pass a single read-only query, such as 'SELECT * FROM export_system.export_logs'.",
            )
            .raise()
        });
        QueryRows {
            cursor_name: Some(cursor_name),
            config,
            writer: None,
            rows_written: 0,
        }
    }
}

impl RowProducer for QueryRows {
    fn produce(&mut self, rows: &mut Rows) -> bool {
        let Some(name) = self.cursor_name.take() else {
            return false;
        };
        let _read_only = ReadOnlyGuard::enter();
        let (records, columns, name) = Spi::connect(|client| {
            let mut cursor = client
                .find_cursor(&name)
                .unwrap_or_else(|e| panic!("export_query cursor {name} is gone: {e}"));
            let fetched = cursor
                .fetch(FETCH_ROWS)
                .unwrap_or_else(|e| panic!("fetching query rows failed: {e}"))
                .len();
            // SAFETY: the tuple table of the fetch just made, read before the
            // SPI connection (which owns it) ends.
            let (records, columns) = unsafe {
                let table = pg_sys::SPI_tuptable;
                let tupdesc = (*table).tupdesc;
                let natts = (*tupdesc).natts;
                let records: Vec<Vec<Option<String>>> = (0..fetched)
                    .map(|index| {
                        pgrx::check_for_interrupts!();
                        let tuple = *(*table).vals.add(index);
                        (1..=natts)
                            .map(|number| {
                                let text = pg_sys::SPI_getvalue(tuple, tupdesc, number);
                                (!text.is_null())
                                    .then(|| CStr::from_ptr(text).to_string_lossy().into_owned())
                            })
                            .collect()
                    })
                    .collect();
                (records, columns_of(tupdesc))
            };
            let name = (fetched as i64 == FETCH_ROWS).then(|| cursor.detach_into_name());
            (records, columns, name)
        });
        let writer = self.writer.get_or_insert_with(|| {
            let mut writer = TableWriter::new(self.config.clone(), columns);
            writer.begin(rows);
            writer
        });
        for record in &records {
            writer.row(record, rows);
        }
        self.rows_written += records.len() as i64;
        self.cursor_name = name;
        if self.cursor_name.is_none() {
            writer.finish(rows);
        }
        self.cursor_name.is_some()
    }

    fn close(&mut self) {
        if let Some(name) = self.cursor_name.take() {
            Spi::connect(|client| {
                // Dropping the found cursor closes it.
                let _ = client.find_cursor(&name);
            });
        }
    }

    fn counts(&self) -> (i64, i64) {
        (self.rows_written, 0)
    }
}

/// Export the result of a read-only query as CSV (default), JSON, JSONL or a
/// Markdown table; each returned row is one line of the file.
#[pg_extern(volatile, parallel_unsafe)]
fn export_query(
    query: &str,
    config: default!(Option<JsonB>, "'{}'"),
    fcinfo: pg_sys::FunctionCallInfo,
) -> SetOfIterator<'static, String> {
    let started = Instant::now();
    let config_json = config.map(|c| c.0).unwrap_or(Value::Null);
    let config = QueryExportConfig::from_json(&config_json).or_raise();
    let identity = Identity::current();
    rate_limit::check(&identity);
    let description = ExportDescription {
        kind: "query",
        format: config.format.as_str(),
        config: config.to_json(query),
    };
    let producer = QueryRows::open(query, config);
    export::stream(fcinfo, identity, description, Box::new(producer), started)
}
