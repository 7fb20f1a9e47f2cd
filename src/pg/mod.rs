//! Every direct use of the backend's internals: portals, GUCs, identity
//! switches, transactions. Each unsafe block states why it is sound.

pub mod backend;
pub mod guc;
pub mod identity;
pub mod job_limits;
pub mod jsonb_arg;
pub mod portal;
pub mod spi;
pub mod srf;
pub mod transaction;
pub mod worker_slots;
