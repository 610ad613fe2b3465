//! The internal command-line flags by which a daemon's binary becomes its own spawner
//! ([`SPAWNER_FLAG`]) or a session child ([`CHILD_FLAG`]): parsed here, next to where the
//! spawner passes them, and flattened into each daemon's arguments.

#[cfg(doc)]
use crate::spawner::{CHILD_FLAG, SPAWNER_FLAG};

#[derive(clap::Args, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionFlags {
    /// Internal: run as the privileged spawner of session children (started by the daemon).
    #[arg(
        long = "session-spawner",
        hide = true,
        conflicts_with = "session_child"
    )]
    pub session_spawner: bool,
    /// Internal: run as a session child serving one Unix account (started by the spawner).
    #[arg(long = "session-child", hide = true)]
    pub session_child: bool,
}

impl SessionFlags {
    /// Whether this process is the spawner or a session child rather than the daemon.
    pub fn is_internal(&self) -> bool {
        self.session_spawner || self.session_child
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spawner::{CHILD_FLAG, SPAWNER_FLAG};
    use clap::Parser;

    #[derive(Parser)]
    struct Args {
        #[command(flatten)]
        session: SessionFlags,
    }

    fn parse(args: &[&str]) -> Result<SessionFlags, clap::Error> {
        Args::try_parse_from(std::iter::once("daemon").chain(args.iter().copied()))
            .map(|a| a.session)
    }

    #[test]
    fn the_flags_the_spawner_passes_are_the_ones_parsed() {
        let spawner = parse(&[SPAWNER_FLAG]).unwrap();
        assert!(spawner.session_spawner && !spawner.session_child);
        let child = parse(&[CHILD_FLAG]).unwrap();
        assert!(child.session_child && !child.session_spawner);
        assert!(child.is_internal() && spawner.is_internal());
        let daemon = parse(&[]).unwrap();
        assert!(!daemon.is_internal());
        assert!(parse(&[SPAWNER_FLAG, CHILD_FLAG]).is_err());
    }
}
