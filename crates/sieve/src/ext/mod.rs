//! Sieve extensions, one file each, so the core grammar and interpreter only dispatch to them.

pub mod relational;
pub mod subaddress;
pub mod variables;
