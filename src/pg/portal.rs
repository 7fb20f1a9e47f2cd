//! The extension's own cursors. A portal we open is held by pointer, never
//! found again by name. It gets a random name and is hidden from
//! `pg_cursors`, so the caller can neither read it (`FETCH` needs the name)
//! nor replace it (`CLOSE` + a same-named `DECLARE`); it is pinned while we
//! run it, so nothing the query calls can drop it mid-fetch. Between our
//! calls it is left unpinned, because a pinned portal makes the caller's
//! COMMIT fail (extended-protocol portals end only at commit); the one way
//! left to drop it then, `CLOSE ALL`, is detected before each use by asking
//! for our secret name and comparing the pointer, and the export stops with
//! SQLSTATE 24000 instead of touching freed memory.
//!
//! Rows arrive through a DestReceiver of our own that stops a fetch once the
//! rows it delivered hold a byte budget, so memory is bounded in bytes, not
//! rows, from the first fetch on. Every value is read through `Row`, which
//! checks the column's actual type before it converts a datum.

use std::ffi::{CStr, CString, c_char};
use std::panic::AssertUnwindSafe;
use std::ptr::NonNull;

use pgrx::PgSqlErrorCode;
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;

use crate::error::UserError;
use crate::pg::guc::with_guc;

/// A result column: its name and actual type.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub type_oid: pg_sys::Oid,
}

pub struct PinnedPortal {
    portal: NonNull<pg_sys::PortalData>,
    /// Secret; used only to tell whether the portal still exists.
    name: CString,
    columns: Vec<Column>,
    /// Where a row's detoasted values live while it is converted; reset after each row.
    row_context: pg_sys::MemoryContext,
    exhausted: bool,
    closed: bool,
}

/// How much one fetch may read.
#[derive(Debug, Clone, Copy)]
pub struct FetchBudget {
    pub max_rows: i64,
    /// Stop once the rows delivered account for this many bytes.
    pub max_bytes: usize,
}

/// One row of a fetch, readable only through type-checked accessors.
pub struct Row<'a> {
    values: &'a [pg_sys::Datum],
    nulls: &'a [bool],
    columns: &'a [Column],
}

impl Row<'_> {
    fn checked(&self, index: usize, expected: pg_sys::Oid) -> Option<pg_sys::Datum> {
        let column = &self.columns[index];
        if column.type_oid != expected {
            pgrx::error!(
                "export_system: column \"{}\" has type oid {}, expected {}",
                column.name,
                column.type_oid.to_u32(),
                expected.to_u32()
            );
        }
        (!self.nulls[index]).then(|| self.values[index])
    }

    fn convert<T: FromDatum>(&self, index: usize, expected: pg_sys::Oid) -> Option<T> {
        let datum = self.checked(index, expected)?;
        // SAFETY: the datum is non-null and of type `expected`, the type T reads.
        unsafe { T::from_polymorphic_datum(datum, false, expected) }
    }

    pub fn text(&self, index: usize) -> Option<String> {
        self.convert(index, pg_sys::TEXTOID)
    }

    pub fn int4(&self, index: usize) -> Option<i32> {
        self.convert(index, pg_sys::INT4OID)
    }

    pub fn int8(&self, index: usize) -> Option<i64> {
        self.convert(index, pg_sys::INT8OID)
    }

    pub fn boolean(&self, index: usize) -> Option<bool> {
        self.convert(index, pg_sys::BOOLOID)
    }

    pub fn text_array(&self, index: usize) -> Option<Vec<Option<String>>> {
        self.convert(index, pg_sys::TEXTARRAYOID)
    }

    pub fn timestamptz(&self, index: usize) -> Option<TimestampWithTimeZone> {
        self.convert(index, pg_sys::TIMESTAMPTZOID)
    }

    /// Any column as its type's text output (NULL stays None).
    pub fn output(&self, index: usize, output_function: pg_sys::Oid) -> Option<String> {
        let datum = (!self.nulls[index]).then(|| self.values[index])?;
        // SAFETY: `output_function` is the output function of this column's
        // type (see `PinnedPortal::output_functions`); the cstring it returns
        // lives in the row context and is copied before the context is reset.
        unsafe {
            let text = pg_sys::OidOutputFunctionCall(output_function, datum);
            Some(CStr::from_ptr(text).to_string_lossy().into_owned())
        }
    }
}

/// The attributes (columns) of a tuple descriptor.
///
/// # Safety
/// `tupdesc` is a valid tuple descriptor that outlives `'a` unchanged.
unsafe fn attributes<'a>(tupdesc: pg_sys::TupleDesc) -> &'a [pg_sys::FormData_pg_attribute] {
    // SAFETY: the caller's; `natts` attributes follow in the descriptor's
    // own allocation, at a place that depends on the major.
    unsafe {
        let natts = (*tupdesc).natts as usize;
        #[cfg(not(feature = "pg18"))]
        let first = (*tupdesc).attrs.as_ptr();
        // PostgreSQL 18 stores `natts` CompactAttributes first, then the attributes.
        #[cfg(feature = "pg18")]
        let first = (*tupdesc)
            .compact_attrs
            .as_ptr()
            .add(natts)
            .cast::<pg_sys::FormData_pg_attribute>();
        std::slice::from_raw_parts(first, natts)
    }
}

/// Our DestReceiver: `base` first, so a `*mut DestReceiver` is a `*mut BudgetReceiver`.
#[repr(C)]
struct BudgetReceiver<'a> {
    base: pg_sys::DestReceiver,
    on_row: &'a mut dyn FnMut(&Row) -> usize,
    columns: &'a [Column],
    row_context: pg_sys::MemoryContext,
    max_bytes: usize,
    bytes: usize,
    received: i64,
    stopped_early: bool,
}

/// The DestReceiver's `receiveSlot`: decode one row for `on_row`, in a
/// row-sized memory context, and stop the fetch at the byte budget.
///
/// # Safety
/// Called only by the executor, with the `BudgetReceiver` that `fetch`
/// passed to `PortalRunFetch` and a slot of the portal's tuple descriptor.
#[pg_guard]
unsafe extern "C-unwind" fn receive_slot(
    slot: *mut pg_sys::TupleTableSlot,
    receiver: *mut pg_sys::DestReceiver,
) -> bool {
    // SAFETY: the executor hands back the receiver we passed to PortalRunFetch
    // (a BudgetReceiver) and a slot of the portal's tuple descriptor.
    unsafe {
        let receiver = &mut *receiver.cast::<BudgetReceiver>();
        pgrx::check_for_interrupts!();
        pg_sys::slot_getallattrs(slot);
        let tupdesc = (*slot).tts_tupleDescriptor;
        let natts = (*tupdesc).natts as usize;
        // The row must have the shape checked at open, column by column,
        // before any of its datums is converted.
        let same_shape = natts == receiver.columns.len()
            && attributes(tupdesc)
                .iter()
                .zip(receiver.columns)
                .all(|(attribute, column)| attribute.atttypid == column.type_oid);
        if !same_shape {
            pgrx::error!("export_system: the export's rows changed shape");
        }
        let row = Row {
            values: std::slice::from_raw_parts((*slot).tts_values, natts),
            nulls: std::slice::from_raw_parts((*slot).tts_isnull, natts),
            columns: receiver.columns,
        };
        let previous = pg_sys::MemoryContextSwitchTo(receiver.row_context);
        let bytes = (receiver.on_row)(&row);
        pg_sys::MemoryContextSwitchTo(previous);
        pg_sys::MemoryContextReset(receiver.row_context);
        receiver.received += 1;
        receiver.bytes += bytes;
        if receiver.bytes >= receiver.max_bytes {
            receiver.stopped_early = true;
            return false;
        }
        true
    }
}

/// The DestReceiver's `rStartup`: nothing to prepare.
///
/// # Safety
/// Called only by the executor; it touches none of its arguments.
#[pg_guard]
unsafe extern "C-unwind" fn receiver_startup(
    _receiver: *mut pg_sys::DestReceiver,
    _operation: i32,
    _tupdesc: pg_sys::TupleDesc,
) {
}

/// The DestReceiver's `rShutdown` and `rDestroy`: nothing to release (the
/// receiver lives on `fetch`'s stack).
///
/// # Safety
/// Called only by the executor; it touches none of its arguments.
#[pg_guard]
unsafe extern "C-unwind" fn receiver_noop(_receiver: *mut pg_sys::DestReceiver) {}

impl PinnedPortal {
    /// Open `sql` with `args` as the current user. Errors in the query
    /// (syntax, permissions, a statement that is not a query) are raised here.
    pub fn open(sql: &str, args: &[DatumWithOid], holdable: bool) -> PinnedPortal {
        let name = CString::new(format!("export_system_{}", uuid::Uuid::new_v4().simple()))
            .expect("uuids have no NUL");
        let sql = CString::new(sql).expect("generated SQL has no NUL");
        let mut types: Vec<pg_sys::Oid> = args.iter().map(|arg| arg.oid()).collect();
        let mut values: Vec<pg_sys::Datum> = args
            .iter()
            .map(|arg| {
                arg.datum()
                    .map_or(pg_sys::Datum::from(0), |d| d.sans_lifetime())
            })
            .collect();
        let nulls: Vec<c_char> = args
            .iter()
            .map(|arg| if arg.datum().is_none() { b'n' } else { b' ' } as c_char)
            .collect();
        let mut options = pg_sys::CURSOR_OPT_NO_SCROLL as i32;
        if holdable {
            options |= pg_sys::CURSOR_OPT_HOLD as i32;
        }
        // Planned without JIT: the export's estimated cost (a nested loop
        // over every conversation) always buys JIT's inlining and
        // optimisation, whose compile time exceeds what it saves on a query
        // that mostly copies text (measured in bench/README).
        let portal = with_guc("jit", "off", || {
            Spi::connect(|_client| {
                // SAFETY: inside an SPI connection; the arrays outlive the
                // call, which copies the parameters into the portal.
                unsafe {
                    pg_sys::SPI_cursor_open_with_args(
                        name.as_ptr(),
                        sql.as_ptr(),
                        types.len() as i32,
                        types.as_mut_ptr(),
                        values.as_mut_ptr(),
                        nulls.as_ptr(),
                        false,
                        options,
                    )
                }
            })
        });
        let portal = NonNull::new(portal).expect("SPI_cursor_open raises rather than fail");
        // SAFETY: the portal was just created and nothing else knows it.
        let columns = unsafe {
            let data = portal.as_ptr();
            (*data).visible = false;
            attributes((*data).tupDesc)
                .iter()
                .map(|attribute| Column {
                    name: CStr::from_ptr(attribute.attname.data.as_ptr())
                        .to_string_lossy()
                        .into_owned(),
                    type_oid: attribute.atttypid,
                })
                .collect()
        };
        // SAFETY: a plain context under TopMemoryContext (WITH HOLD portals
        // outlive transactions), deleted when this value is dropped.
        let row_context = unsafe {
            pg_sys::AllocSetContextCreateInternal(
                pg_sys::TopMemoryContext,
                c"export_system row".as_ptr(),
                0,
                8 * 1024,
                8 * 1024 * 1024,
            )
        };
        PinnedPortal {
            portal,
            name,
            columns,
            row_context,
            exhausted: false,
            closed: false,
        }
    }

    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The position of column `name`, which must have type `expected`;
    /// checked once per query, before any row is read.
    pub fn column_index(&self, name: &str, expected: pg_sys::Oid) -> usize {
        let Some(index) = self.columns.iter().position(|c| c.name == name) else {
            pgrx::error!("export_system: the export query has no column \"{name}\"");
        };
        let actual = self.columns[index].type_oid;
        if actual != expected {
            pgrx::error!(
                "export_system: column \"{name}\" has type oid {}, expected {}",
                actual.to_u32(),
                expected.to_u32()
            );
        }
        index
    }

    /// Each column's type output function, for `Row::output`.
    pub fn output_functions(&self) -> Vec<pg_sys::Oid> {
        self.columns
            .iter()
            .map(|column| {
                let mut function = pg_sys::InvalidOid;
                let mut is_varlena = false;
                // SAFETY: a catalog lookup for a type that exists (the portal's).
                unsafe {
                    pg_sys::getTypeOutputInfo(column.type_oid, &mut function, &mut is_varlena)
                };
                function
            })
            .collect()
    }

    pub fn is_exhausted(&self) -> bool {
        self.exhausted || self.closed
    }

    /// Whether our portal still exists: the one under our secret name is
    /// the one we hold. False only after the caller's `CLOSE ALL` or the end
    /// of the transaction that created it.
    fn is_alive(&self) -> bool {
        // SAFETY: a hash lookup by name; the pointer is only compared.
        !self.closed
            && unsafe { pg_sys::GetPortalByName(self.name.as_ptr()) } == self.portal.as_ptr()
    }

    /// Read rows into `on_row`, which returns the bytes each row accounts
    /// for, until the budget is used up or the rows run out. Returns how many
    /// rows were read; afterwards `is_exhausted` tells whether more may follow.
    pub fn fetch(&mut self, budget: FetchBudget, on_row: &mut dyn FnMut(&Row) -> usize) -> i64 {
        if self.is_exhausted() {
            return 0;
        }
        let mut receiver = BudgetReceiver {
            base: pg_sys::DestReceiver {
                receiveSlot: Some(receive_slot),
                rStartup: Some(receiver_startup),
                rShutdown: Some(receiver_noop),
                rDestroy: Some(receiver_noop),
                mydest: pg_sys::CommandDest::DestNone,
            },
            on_row,
            columns: &self.columns,
            row_context: self.row_context,
            max_bytes: budget.max_bytes.max(1),
            bytes: 0,
            received: 0,
            stopped_early: false,
        };
        if !self.is_alive() {
            UserError {
                code: PgSqlErrorCode::ERRCODE_INVALID_CURSOR_STATE,
                message: "the export's cursor was closed before the export ended (CLOSE ALL?)".into(),
                hint: "Close or read to the end the cursors over an export before closing all cursors.".into(),
            }
            .raise();
        }
        let portal = self.portal.as_ptr();
        // SAFETY: our portal, alive (checked just above) and pinned while it
        // runs; unpinned again on every exit, errors included, so a caught
        // error cannot leave it pinned. The receiver outlives the fetch.
        unsafe {
            pg_sys::PinPortal(portal);
            PgTryBuilder::new(AssertUnwindSafe(|| {
                pg_sys::PortalRunFetch(
                    portal,
                    pg_sys::FetchDirection::FETCH_FORWARD,
                    budget.max_rows.max(1) as std::ffi::c_long,
                    (&raw mut receiver).cast(),
                )
            }))
            .finally(|| {
                if (*portal).portalPinned {
                    pg_sys::UnpinPortal(portal);
                }
            })
            .execute();
            if receiver.stopped_early {
                // Our receiver, not the query, ended this fetch: more rows may follow.
                (*portal).atEnd = false;
            } else if receiver.received < budget.max_rows.max(1) {
                self.exhausted = true;
            }
        }
        receiver.received
    }

    /// Close the portal, if it still exists. Idempotent.
    pub fn close(&mut self) {
        if self.is_alive() {
            // SAFETY: our portal, alive (checked above) and not running.
            unsafe { pg_sys::SPI_cursor_close(self.portal.as_ptr()) };
        }
        self.closed = true;
    }
}

impl Drop for PinnedPortal {
    fn drop(&mut self) {
        // SAFETY: our context, which nothing else references. The portal is
        // left to the end of its transaction (dropping it here could run
        // inside that very cleanup).
        unsafe { pg_sys::MemoryContextDelete(self.row_context) };
    }
}
