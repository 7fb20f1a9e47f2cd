//! Every direct use of the backend's internals: portals, GUCs, identity
//! switches, transactions. Each unsafe block states why it is sound.

pub mod guc;
pub mod identity;
pub mod portal;
