//! Every direct use of the backend's internals: portals, GUCs, identity
//! switches, transactions, interrupts. Each unsafe block states why it is sound.

pub mod backend;
pub mod guc;
pub mod identity;
pub mod interrupts;
pub mod job_limits;
pub mod jsonb_arg;
pub mod portal;
pub mod spi;
pub mod srf;
pub mod transaction;
pub mod worker_slots;

#[cfg(not(any(feature = "pg15", feature = "pg16", feature = "pg17", feature = "pg18")))]
compile_error!(
    "export_system supports PostgreSQL 15, 16, 17 and 18: build with one of the features pg15, pg16, pg17, pg18"
);
