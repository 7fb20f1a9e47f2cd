//! The limits a background job runs under: a timeout for the whole run (a
//! worker has no client statement, so Postgres's own statement_timeout never
//! starts) and a temp_file_limit of its own. Both are undone when the guard
//! is dropped, on every exit.

use std::ffi::{CStr, c_int};
use std::time::Duration;

use pgrx::pg_sys;

use crate::pg::guc::set_guc_as_superuser;

/// `TimeoutId::STATEMENT_TIMEOUT` in utils/timeout.h: the fourth of the
/// predefined reasons on every supported major (15 to 18).
const STATEMENT_TIMEOUT: c_int = 3;

// utils/timeout.h, which pgrx does not bind; called through
// `pg_guard_ffi_boundary`, so an ERROR they raise unwinds as pgrx's own calls
// do instead of jumping over Rust frames.
unsafe extern "C-unwind" {
    fn enable_timeout_after(id: c_int, delay_ms: c_int);
    fn disable_timeout(id: c_int, keep_indicator: bool);
}

pub struct JobLimits {
    timeout_armed: bool,
    /// temp_file_limit as it was, restored on drop.
    saved_temp_file_limit: Option<String>,
}

fn current_setting(name: &CStr) -> Option<String> {
    // SAFETY: a GUC that exists in every backend; the string it returns is
    // copied before anything can change it.
    let value = unsafe { pg_sys::GetConfigOption(name.as_ptr(), false, false) };
    if value.is_null() {
        return None;
    }
    // SAFETY: a NUL-terminated string owned by the GUC machinery.
    let text = unsafe { CStr::from_ptr(value) };
    Some(text.to_string_lossy().into_owned())
}

impl JobLimits {
    /// Arm `timeout` (the STATEMENT_TIMEOUT timer every backend registers:
    /// when it fires, the next CHECK_FOR_INTERRUPTS raises "canceling
    /// statement due to statement timeout" in whatever transaction runs) and
    /// set `temp_file_limit_kb` (-1: none) for this session.
    pub fn enter(timeout: Option<Duration>, temp_file_limit_kb: i32) -> JobLimits {
        let saved_temp_file_limit = current_setting(c"temp_file_limit");
        set_guc_as_superuser("temp_file_limit", &temp_file_limit_kb.to_string());
        let timeout_armed = timeout.is_some_and(|timeout| {
            let millis = i32::try_from(timeout.as_millis())
                .unwrap_or(i32::MAX)
                .max(1);
            // SAFETY: InitPostgres registered STATEMENT_TIMEOUT's handler in
            // this (background worker) backend; Drop disarms it.
            unsafe {
                pg_sys::ffi::pg_guard_ffi_boundary(|| {
                    enable_timeout_after(STATEMENT_TIMEOUT, millis)
                })
            };
            true
        });
        JobLimits {
            timeout_armed,
            saved_temp_file_limit,
        }
    }
}

impl Drop for JobLimits {
    fn drop(&mut self) {
        if self.timeout_armed {
            // SAFETY: disarms the timer armed in `enter`, harmless if it fired.
            unsafe {
                pg_sys::ffi::pg_guard_ffi_boundary(|| disable_timeout(STATEMENT_TIMEOUT, false))
            };
        }
        if let Some(value) = &self.saved_temp_file_limit {
            set_guc_as_superuser("temp_file_limit", value);
        }
    }
}
