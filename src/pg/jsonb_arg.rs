//! A jsonb argument read without pgrx's panicking conversion: the value is
//! parsed here, so a number serde_json cannot hold (`1e400`) or nesting past
//! its limit is a clear 22023 naming the problem, never an internal error.

use std::ffi::CStr;

use pgrx::callconv::{Arg, ArgAbi};
use pgrx::prelude::*;
use pgrx::{FromDatum, PgSqlErrorCode};
use serde_json::Value;

use crate::error::UserError;

/// A jsonb argument: the parsed value, or why it cannot be used.
pub struct ConfigJson(Result<Value, String>);

impl ConfigJson {
    /// The value, or SQLSTATE 22023 saying why it is unusable.
    pub fn into_value(self, what: &str) -> Value {
        self.0.unwrap_or_else(|reason| {
            UserError {
                code: PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                message: format!("{what} is not usable JSON: {reason}"),
                hint: "Numbers must fit a double precision and nesting stay under 128 levels; pass a plain object such as '{\"format\": \"jsonl\"}'::jsonb.".into(),
            }
            .raise()
        })
    }
}

impl FromDatum for ConfigJson {
    /// # Safety
    /// `datum` must be a jsonb datum (or null), as `FromDatum` requires.
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        _: pg_sys::Oid,
    ) -> Option<ConfigJson> {
        if is_null {
            return None;
        }
        // SAFETY: a non-null jsonb argument; jsonb_out returns a palloc'd
        // cstring, copied before it is freed.
        let text = unsafe {
            let cstring = pgrx::direct_function_call::<&CStr>(pg_sys::jsonb_out, &[Some(datum)])
                .expect("jsonb_out returns a string");
            let text = cstring.to_string_lossy().into_owned();
            pg_sys::pfree(cstring.as_ptr().cast_mut().cast());
            text
        };
        Some(ConfigJson(
            serde_json::from_str(&text).map_err(|error| error.to_string()),
        ))
    }
}

// SAFETY: `unbox_arg_unchecked` reads the argument as the jsonb that
// `impl_sql_translatable!` below declares it to be, as pgrx's own jsonb does.
unsafe impl<'fcx> ArgAbi<'fcx> for ConfigJson {
    /// # Safety
    /// `arg` must be this function's jsonb argument, as `ArgAbi` requires.
    unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
        let index = arg.index();
        // SAFETY: pgrx calls this for a jsonb argument (see the SQL mapping below).
        unsafe { arg.unbox_arg_using_from_datum() }
            .unwrap_or_else(|| pgrx::error!("argument {index} must not be null"))
    }
}

pgrx::impl_sql_translatable!(ConfigJson, arg_only = "jsonb");
