//! The export history: a page of `export_logs` rows, newest first, read as
//! the caller (RLS shows users their own rows; operators see everyone's).

use pgrx::JsonB;
use serde_json::Value;

use crate::pg::spi;
use crate::sql_args::SqlArgs;
use crate::store::as_caller;

/// A validated history filter.
#[derive(Debug, Default, PartialEq)]
pub struct HistoryQuery {
    pub page: i64,
    pub page_size: i64,
    pub formats: Option<Vec<String>>,
    pub statuses: Option<Vec<String>>,
    pub kinds: Option<Vec<String>>,
    pub from: Option<String>,
    /// Inclusive upper bound (a bare date covers its whole UTC day).
    pub to: Option<String>,
}

/// Which rows of the log the query selects, as SQL conditions.
fn conditions(
    query: &HistoryQuery,
    user_id: Option<String>,
    sees_all: bool,
    args: &mut SqlArgs,
) -> Vec<String> {
    let mut conditions = Vec::new();
    match (user_id, sees_all) {
        (_, true) => {}
        (Some(user_id), false) => {
            conditions.push(format!("l.user_id = {}::uuid", args.arg(user_id)))
        }
        (None, false) => conditions.push("l.user_id IS NULL AND l.db_role = CURRENT_USER".into()),
    }
    for (column, values) in [
        ("format", &query.formats),
        ("status", &query.statuses),
        ("kind", &query.kinds),
    ] {
        if let Some(values) = values {
            conditions.push(format!(
                "l.{column} = ANY ({}::text[])",
                args.arg(values.clone())
            ));
        }
    }
    if let Some(from) = &query.from {
        conditions.push(format!(
            "l.\"timestamp\" >= {}::timestamptz",
            args.arg(from.clone())
        ));
    }
    if let Some(to) = &query.to {
        conditions.push(format!(
            "l.\"timestamp\" <= {}::timestamptz",
            args.arg(to.clone())
        ));
    }
    conditions
}

/// One page of `user_id`'s history (everyone's for operators), as jsonb.
/// Runs as the caller, with search_path pinned: RLS scopes the log too.
pub fn page(query: &HistoryQuery, user_id: Option<String>) -> Value {
    as_caller(|| {
        let sees_all = spi::read_one::<bool>(
            "reading the caller's rights",
            "SELECT export_system.sees_all_exports()",
            &[],
        )
        .unwrap_or(false);
        let mut args = SqlArgs::default();
        let conditions = conditions(query, user_id, sees_all, &mut args);
        let where_clause = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let (page, size) = (query.page, query.page_size);
        let limit = args.arg(size);
        let offset = args.arg((page - 1) * size);
        // Only validated integers and constants are put into the text.
        let sql = include_str!("../../sql/store/history_page.sql")
            .replace("{page}", &page.to_string())
            .replace("{size}", &size.to_string())
            .replace("{user_column}", if sees_all { ", l.user_id" } else { "" })
            .replace("{where}", &where_clause)
            .replace("{limit}", &limit)
            .replace("{offset}", &offset);
        spi::read_one::<JsonB>("reading the export history", &sql, &args.values)
            .map_or(Value::Null, |json| json.0)
    })
}
