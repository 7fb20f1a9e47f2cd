//! Background exports: the queue, one job's run in short transactions, its
//! stored parts and their download, the workers, and expiry/retention.

pub mod claim;
pub mod download;
pub mod queue;
pub mod retention;
pub mod run;
pub mod worker;
