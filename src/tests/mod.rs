//! `#[pg_test]`s, one file per theme; the SQL-level suite is in `tests/`.

mod generated_sql;
#[cfg(test)]
mod layers;
pub mod sql_lint;
mod stream;
