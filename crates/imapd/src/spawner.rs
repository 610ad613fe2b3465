//! Serving Unix accounts as themselves (Dovecot's model): imapd's use of the shared
//! `ferrymail-spawn` crate. When imapd starts as root with `userdb.unix_accounts` on, it
//! starts the privileged spawner (`imapd --session-spawner`) before dropping privileges;
//! after a Unix account's password checked out, the main process asks it for a session
//! child (`imapd --session-child`, [`crate::child`]) running as the account, and relays the
//! client's connection to it. The mechanism and its checks ([`check_request`]) live in
//! `ferrymail_spawn::spawner`; pop3d uses the same.

use std::path::Path;

use ferrymail_config::Config;
pub use ferrymail_spawn::spawner::{
    check_request, ChildSpec, Refusal, SpawnError, Spawner, SPEC_ENV,
};

/// The spawner process's whole life (`imapd --session-spawner`).
pub fn spawner_main(config_path: &Path, config: &Config) -> i32 {
    ferrymail_spawn::spawner_main(config_path, config)
}
