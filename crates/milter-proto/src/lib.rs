//! The Sendmail milter protocol, version 6, client side, as Postfix speaks it: plain code over
//! bytes (no sockets, no clock), so every rule is tested directly and fuzzed.
//!
//! [`wire`] encodes what the MTA sends; [`response`] decodes the milter's replies, bounded;
//! [`negotiate`] is the option negotiation and [`macros`] the macro lists per stage;
//! [`client`] is one milter connection's state (which events it gets, what its replies mean,
//! which modifications it may make); [`content`] splits a stored message into header fields
//! and body, and [`edit`] applies header changes to it. `fuzzing` (feature `fuzzing`) feeds
//! arbitrary bytes through the reply path for the fuzz target.

pub mod client;
pub mod content;
pub mod edit;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod macros;
pub mod negotiate;
pub mod response;
pub mod wire;

pub use client::{Client, Event, Step, Verdict};
pub use negotiate::Negotiated;
pub use response::{Decoder, Edit, ProtocolError, Response};
pub use wire::{ClientAddr, Command};
