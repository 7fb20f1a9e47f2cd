//! Setting GUCs from Rust, and the pinned search_path that everything the
//! extension runs with other privileges (audit writes, jobs, cleanup) uses.

use std::ffi::CString;

use pgrx::pg_sys;

/// The only search_path the extension's privileged work runs under.
pub const PINNED_SEARCH_PATH: &str = "pg_catalog, pg_temp";

/// Set a GUC at session level: `GUC_ACTION_SET` as SET does, or
/// `GUC_ACTION_SAVE` to have it undone when the enclosing GUC nest level ends.
pub fn set_guc(name: &str, value: &str, action: pg_sys::GucAction::Type) {
    let name = CString::new(name).expect("GUC names have no NUL");
    let value = CString::new(value).expect("GUC values have no NUL");
    // SAFETY: a plain GUC assignment with the caller's privileges; errors
    // (an unknown GUC, a bad value) are raised, not returned.
    unsafe {
        pg_sys::set_config_option(
            name.as_ptr(),
            value.as_ptr(),
            pg_sys::GucContext::PGC_USERSET,
            pg_sys::GucSource::PGC_S_SESSION,
            action,
            true,
            0,
            false,
        );
    }
}

/// Set a superuser-only GUC (temp_file_limit) for this session, as the
/// server's own configuration would: for a background worker's job limits.
pub fn set_guc_as_superuser(name: &str, value: &str) {
    let name = CString::new(name).expect("GUC names have no NUL");
    let value = CString::new(value).expect("GUC values have no NUL");
    // SAFETY: as in `set_guc`; PGC_SUSET is the context a superuser's SET has.
    unsafe {
        pg_sys::set_config_option(
            name.as_ptr(),
            value.as_ptr(),
            pg_sys::GucContext::PGC_SUSET,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_SET,
            true,
            0,
            false,
        );
    }
}

/// Run `body` with search_path pinned to `PINNED_SEARCH_PATH`, restored
/// afterwards (by Postgres itself if `body` raises an error).
pub fn with_pinned_search_path<R>(body: impl FnOnce() -> R) -> R {
    with_guc("search_path", PINNED_SEARCH_PATH, body)
}

/// Run `body` with GUC `name` set to `value`, restored afterwards (by
/// Postgres itself if `body` raises an error).
pub fn with_guc<R>(name: &str, value: &str, body: impl FnOnce() -> R) -> R {
    // SAFETY: a GUC nest level, closed below as fmgr_security_definer closes it.
    let nest_level = unsafe { pg_sys::NewGUCNestLevel() };
    set_guc(name, value, pg_sys::GucAction::GUC_ACTION_SAVE);
    let result = body();
    // SAFETY: closes the nest level opened above.
    unsafe { pg_sys::AtEOXact_GUC(true, nest_level) };
    result
}
