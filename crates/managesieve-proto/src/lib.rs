//! Sans-IO ManageSieve (RFC 5804), the protocol mail clients use to edit a user's Sieve
//! scripts: [`framing`] cuts the byte stream into commands (literals included, every size
//! bounded), [`command`] parses them, [`response`] encodes the server's replies and the
//! capability listing, [`session`] is the state machine (STARTTLS, SASL PLAIN/LOGIN through
//! `ferrymail_net::sasl`, the script commands), and [`storage`] runs its script requests
//! against a [`storage::Storage`] (the user's `ferrymail_sieve::store::ScriptStore`).
//!
//! No I/O here: `managesieved` reads and writes the socket, checks passwords and runs the
//! storage requests on the blocking pool; this crate is unit-tested and fuzzed on its own.

pub mod command;
pub mod framing;
#[doc(hidden)]
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod response;
pub mod session;
pub mod storage;

pub use framing::{literal_at_end, Frame, Framer};
pub use session::{Action, LoginResult, Session, SessionConfig, Step};
pub use storage::{Request, Storage};
