//! Any query's result set as a file's rows: CSV (a header, then one record per
//! row), JSONL (one object per row), JSON (an array of those objects, one per
//! line) or a Markdown table. Values arrive as Postgres's text output; JSON
//! keeps numbers, booleans and json/jsonb as JSON, everything else as strings.

use pgrx::pg_sys;

use crate::config::{Format, QueryExportConfig};
use crate::formats::csv_records::CsvRecords;
use crate::formats::markdown_escape::escape_table_cell;
use crate::formats::{Rows, escape_line_separators};
use crate::model::StoredJson;

/// How a column's text output becomes JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonKind {
    Number,
    Boolean,
    Json,
    String,
}

impl JsonKind {
    pub fn for_type(type_oid: pg_sys::Oid) -> JsonKind {
        match type_oid {
            pg_sys::INT2OID
            | pg_sys::INT4OID
            | pg_sys::INT8OID
            | pg_sys::FLOAT4OID
            | pg_sys::FLOAT8OID
            | pg_sys::NUMERICOID
            | pg_sys::OIDOID => JsonKind::Number,
            pg_sys::BOOLOID => JsonKind::Boolean,
            pg_sys::JSONOID | pg_sys::JSONBOID => JsonKind::Json,
            _ => JsonKind::String,
        }
    }
}

pub struct Column {
    pub name: String,
    pub kind: JsonKind,
}

pub struct TableWriter {
    config: QueryExportConfig,
    columns: Vec<Column>,
    records: CsvRecords,
    /// JSON: the previous object, written once we know whether a comma follows.
    held: Option<String>,
}

impl TableWriter {
    pub fn new(config: QueryExportConfig, columns: Vec<Column>) -> TableWriter {
        TableWriter {
            records: CsvRecords::new(config.line_ending, config.formula_guard),
            config,
            columns,
            held: None,
        }
    }

    fn csv_record<'a>(&mut self, cells: impl Iterator<Item = &'a str>) -> String {
        for cell in cells {
            self.records.write(cell);
        }
        self.records.take_record()
    }

    fn json_object(&self, values: &[Option<String>]) -> String {
        let mut object = String::from("{");
        for (index, (column, value)) in self.columns.iter().zip(values).enumerate() {
            if index > 0 {
                object.push(',');
            }
            object.push_str(&serde_json::to_string(&column.name).expect("strings serialize"));
            object.push(':');
            match (value, column.kind) {
                (None, _) => object.push_str("null"),
                (Some(text), JsonKind::Boolean) => {
                    object.push_str(if text == "t" { "true" } else { "false" })
                }
                (Some(text), JsonKind::Json) => object.push_str(&json_text(text)),
                // NaN and Infinity have no JSON number.
                (Some(text), JsonKind::Number) if text.parse::<f64>().is_ok_and(f64::is_finite) => {
                    object.push_str(text)
                }
                (Some(text), _) => {
                    object.push_str(&serde_json::to_string(text).expect("strings serialize"))
                }
            }
        }
        object.push('}');
        escape_line_separators(object)
    }

    pub fn begin(&mut self, rows: &mut Rows) {
        match self.config.format {
            Format::Csv => {
                let names: Vec<String> = self.columns.iter().map(|c| c.name.clone()).collect();
                let header = self.csv_record(names.iter().map(String::as_str));
                rows.push_back(if self.config.bom {
                    format!("\u{FEFF}{header}")
                } else {
                    header
                });
            }
            Format::Json => rows.push_back("[".into()),
            Format::Jsonl => {}
            Format::Markdown => {
                let names: Vec<String> = self
                    .columns
                    .iter()
                    .map(|c| escape_table_cell(&c.name))
                    .collect();
                rows.push_back(format!("| {} |", names.join(" | ")));
                rows.push_back(format!("|{}", " --- |".repeat(self.columns.len())));
            }
        }
    }

    /// One result row; `values` are the columns' text output, None for NULL.
    pub fn row(&mut self, values: &[Option<String>], rows: &mut Rows) {
        match self.config.format {
            Format::Csv => {
                let record = self.csv_record(values.iter().map(|v| v.as_deref().unwrap_or("")));
                rows.push_back(record);
            }
            Format::Jsonl => rows.push_back(self.json_object(values)),
            Format::Json => {
                if let Some(previous) = self.held.replace(self.json_object(values)) {
                    rows.push_back(format!("  {previous},"));
                }
            }
            Format::Markdown => {
                let cells: Vec<String> = values
                    .iter()
                    .map(|v| v.as_deref().map(escape_table_cell).unwrap_or_default())
                    .collect();
                rows.push_back(format!("| {} |", cells.join(" | ")));
            }
        }
    }

    pub fn finish(&mut self, rows: &mut Rows) {
        if self.config.format == Format::Json {
            if let Some(last) = self.held.take() {
                rows.push_back(format!("  {last}"));
            }
            rows.push_back("]".into());
        }
    }
}

/// json/jsonb output is JSON already; compacted (never re-parsed into numbers)
/// so it stays on one line with every digit kept.
fn json_text(text: &str) -> String {
    StoredJson::from_jsonb_text(text).as_str().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn writer(format: Format) -> TableWriter {
        let mut config = QueryExportConfig::from_json(&serde_json::Value::Null).unwrap();
        config.format = format;
        config.bom = false;
        TableWriter::new(
            config,
            vec![
                Column {
                    name: "n".into(),
                    kind: JsonKind::Number,
                },
                Column {
                    name: "ok".into(),
                    kind: JsonKind::Boolean,
                },
                Column {
                    name: "doc".into(),
                    kind: JsonKind::Json,
                },
                Column {
                    name: "note".into(),
                    kind: JsonKind::String,
                },
            ],
        )
    }

    fn write(format: Format) -> Vec<String> {
        let mut table = writer(format);
        let mut rows = Rows::new();
        table.begin(&mut rows);
        table.row(
            &[
                Some("1.50".into()),
                Some("t".into()),
                Some("{\"a\": [1, 2]}".into()),
                Some("=SUM(A1)|x\ny".into()),
            ],
            &mut rows,
        );
        table.row(&[Some("NaN".into()), None, None, None], &mut rows);
        table.finish(&mut rows);
        rows.into_iter().collect()
    }

    #[test]
    fn jsonl_keeps_column_order_and_json_types() {
        let rows = write(Format::Jsonl);
        assert_eq!(
            rows[0],
            r#"{"n":1.50,"ok":true,"doc":{"a":[1,2]},"note":"=SUM(A1)|x\ny"}"#
        );
        assert_eq!(rows[1], r#"{"n":"NaN","ok":null,"doc":null,"note":null}"#);
    }

    #[test]
    fn json_is_one_array_that_parses() {
        let text = write(Format::Json).join("\n");
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            parsed[1],
            json!({"n": "NaN", "ok": null, "doc": null, "note": null})
        );
    }

    #[test]
    fn csv_guards_formulas_and_quotes_line_breaks() {
        let rows = write(Format::Csv);
        assert_eq!(rows[0], "n,ok,doc,note");
        assert_eq!(rows[1], "1.50,t,\"{\"\"a\"\": [1, 2]}\",\"'=SUM(A1)|x\ny\"");
        assert_eq!(rows[2], "NaN,,,");
    }

    #[test]
    fn markdown_rows_stay_on_one_line() {
        let rows = write(Format::Markdown);
        assert_eq!(rows[0], "| n | ok | doc | note |");
        assert_eq!(rows[1], "| --- | --- | --- | --- |");
        assert_eq!(
            rows[2],
            "| 1.50 | t | {\"a\": \\[1, 2\\]} | =SUM(A1)\\|x<br>y |"
        );
    }
}
