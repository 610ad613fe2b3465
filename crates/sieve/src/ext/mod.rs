//! Sieve extensions, one file each, so the core grammar and interpreter only dispatch to them.

pub mod body;
pub mod date;
pub mod editheader;
pub mod imap4flags;
pub mod relational;
pub mod spamtest;
pub mod subaddress;
pub mod variables;
