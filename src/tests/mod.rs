//! `#[pg_test]`s, one file per theme; the SQL-level suite is in `tests/`.

mod stream;
