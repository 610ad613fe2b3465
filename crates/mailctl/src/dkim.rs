//! `mailctl dkim keygen|record`: make a DKIM key where queue-runner will look for it, and print
//! the DNS TXT record that publishes it. `mailctl check` then verifies the published record.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use ferrymail_config::Config;
use ferrymail_mailauth::{Algorithm, SigningKeyPair};

use crate::accounts::{exit, finish, load_config, Failure};

#[derive(Subcommand)]
pub enum DkimCmd {
    /// Generate a signing key for DOMAIN (mode 0600, owned by queue.user when run as root)
    /// and print the DNS TXT record to publish.
    Keygen {
        domain: String,
        /// Selector (default: dkim.selector, or the domain's [[dkim.domains]] entry).
        #[arg(long)]
        selector: Option<String>,
        /// rsa (2048 bits, understood everywhere) or ed25519 (RFC 8463).
        #[arg(long, default_value = "rsa")]
        algorithm: Algorithm,
        /// Replace an existing key file (the old record stops verifying).
        #[arg(long)]
        force: bool,
    },
    /// Print the DNS TXT record for DOMAIN's configured key.
    Record {
        domain: String,
        #[arg(long)]
        selector: Option<String>,
    },
}

pub fn run(config_path: &Path, cmd: DkimCmd) -> ExitCode {
    finish(load_config(config_path).and_then(|config| match cmd {
        DkimCmd::Keygen {
            domain,
            selector,
            algorithm,
            force,
        } => keygen(&config, &domain, selector.as_deref(), algorithm, force),
        DkimCmd::Record { domain, selector } => record(&config, &domain, selector.as_deref()),
    }))
}

/// The selector and key file for `domain`: an explicit selector names
/// `<keys_dir>/<domain>.<selector>.key` unless the domain's config entry uses that selector
/// with its own key path; without one, what the config signs with (or the default selector).
pub fn key_location(config: &Config, domain: &str, selector: Option<&str>) -> (String, PathBuf) {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let configured = config
        .dkim_keys()
        .into_iter()
        .find(|(d, s, _)| *d == domain && selector.is_none_or(|want| want == s));
    if let Some((_, s, path)) = configured {
        return (s, path);
    }
    let s = selector.unwrap_or(&config.dkim.selector).to_owned();
    let path = config.dkim.keys_dir.join(format!("{domain}.{s}.key"));
    (s, path)
}

fn keygen(
    config: &Config,
    domain: &str,
    selector: Option<&str>,
    algorithm: Algorithm,
    force: bool,
) -> Result<(), Failure> {
    check_names(domain, selector)?;
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let (selector, path) = key_location(config, &domain, selector);
    if path.exists() && !force {
        return Err(Failure(
            exit::DATAERR,
            format!(
                "{} exists; `mailctl dkim record {domain}` prints its record, --force replaces it",
                path.display()
            ),
        ));
    }
    let key = ferrymail_mailauth::generate(algorithm)
        .map_err(|e| Failure(exit::CANTCREAT, e.to_string()))?;
    write_key(config, &path, key.pem.as_bytes())?;
    println!("wrote {algorithm} key {}", path.display());
    println!("publish this DNS record:");
    println!("{}", key.pair.record(&domain, &selector).zone_line());
    let signs = config
        .dkim_keys()
        .iter()
        .any(|(d, s, p)| *d == domain && *s == selector && *p == path);
    if !signs {
        println!("and tell ferrymail to sign with it (ferrymail.toml):");
        println!("[[dkim.domains]]\ndomain = \"{domain}\"\nselector = \"{selector}\"");
    }
    if !config.dkim.enabled {
        println!("signing is off: set `enabled = true` in [dkim] once the record is published");
    }
    Ok(())
}

fn record(config: &Config, domain: &str, selector: Option<&str>) -> Result<(), Failure> {
    check_names(domain, selector)?;
    let (selector, path) = key_location(config, domain, selector);
    let pair = SigningKeyPair::load(&path).map_err(|e| Failure(exit::NOUSER, e.to_string()))?;
    println!("{}", pair.record(domain, &selector).zone_line());
    Ok(())
}

fn check_names(domain: &str, selector: Option<&str>) -> Result<(), Failure> {
    if !ferrymail_config::is_domain(domain) {
        return Err(Failure(exit::USAGE, format!("`{domain}` is not a domain")));
    }
    if let Some(s) = selector.filter(|s| !ferrymail_config::is_domain(s)) {
        return Err(Failure(
            exit::USAGE,
            format!("`{s}` is not a valid selector"),
        ));
    }
    Ok(())
}

/// Writes the private key readable only by its owner: root's file, handed to `queue.user` (the
/// signer) when we run as root. Written to a temporary name first so a crash never leaves a
/// truncated key where queue-runner would load it.
fn write_key(config: &Config, path: &Path, pem: &[u8]) -> Result<(), Failure> {
    let fail = |e: std::io::Error, what: &str| {
        Failure(exit::CANTCREAT, format!("{}: {what}: {e}", path.display()))
    };
    if let Some(dir) = path.parent() {
        if !dir.exists() {
            std::fs::create_dir_all(dir).map_err(|e| fail(e, "creating the directory"))?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o750))
                .map_err(|e| fail(e, "setting the directory mode"))?;
        }
    }
    let tmp = path.with_extension("key.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| fail(e, "creating"))?;
    f.write_all(pem)
        .and_then(|_| ferrymail_fsutil::sync_file(&f))
        .map_err(|e| fail(e, "writing"))?;
    if nix::unistd::geteuid().is_root() {
        if let Ok(Some(user)) = nix::unistd::User::from_name(&config.queue.user) {
            nix::unistd::chown(&tmp, Some(user.uid), Some(user.gid))
                .map_err(|e| fail(e.into(), "handing it to queue.user"))?;
        }
    }
    std::fs::rename(&tmp, path).map_err(|e| fail(e, "renaming into place"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(r: Result<(), Failure>) {
        if let Err(Failure(code, msg)) = r {
            panic!("exit {code}: {msg}");
        }
    }

    #[test]
    fn keygen_writes_private_key_and_record_reads_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.general.local_domains = vec!["a.test".into()];
        config.dkim.keys_dir = dir.path().join("dkim");
        config.queue.user = "nobody-such-user-here".into();
        ok(keygen(&config, "A.test", None, Algorithm::Ed25519, false));
        let (sel, path) = key_location(&config, "a.test", None);
        assert_eq!(sel, "ferrymail");
        assert_eq!(path, dir.path().join("dkim/a.test.ferrymail.key"));
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let pair = SigningKeyPair::load(&path).unwrap();
        assert_eq!(pair.algorithm, Algorithm::Ed25519);
        // No silent overwrite; --force replaces with a different key.
        let err = keygen(&config, "a.test", None, Algorithm::Rsa, false).unwrap_err();
        assert_eq!(err.0, exit::DATAERR);
        ok(keygen(&config, "a.test", None, Algorithm::Rsa, true));
        let new = SigningKeyPair::load(&path).unwrap();
        assert_eq!(new.algorithm, Algorithm::Rsa);
        assert!(new
            .check_record(&pair.record("a.test", "ferrymail").value)
            .is_err());
        // Another selector is another file.
        ok(keygen(
            &config,
            "a.test",
            Some("s2"),
            Algorithm::Ed25519,
            false,
        ));
        assert!(dir.path().join("dkim/a.test.s2.key").exists());
        ok(record(&config, "a.test", Some("s2")));
        assert_eq!(
            record(&config, "a.test", Some("s3")).unwrap_err().0,
            exit::NOUSER
        );
        assert_eq!(
            keygen(&config, "a.test", Some("bad sel"), Algorithm::Rsa, false)
                .unwrap_err()
                .0,
            exit::USAGE
        );
    }
}
