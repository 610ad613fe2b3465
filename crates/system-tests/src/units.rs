//! A reader for the subset of systemd unit syntax the ferrymail units use: sections,
//! `Key=value` lines (repeatable), comments. Enough to check the units against the config and
//! to start the daemons from the sockets the units describe.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum UnitError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: not `Key=value` or `[Section]`")]
    Syntax { path: PathBuf, line: usize },
    #[error("{unit}: {problem}")]
    Invalid { unit: String, problem: String },
}

/// One unit file.
#[derive(Debug, Clone)]
pub struct Unit {
    /// File name, e.g. `ferrymail-smtpd.service`.
    pub name: String,
    entries: Vec<(String, String, String)>,
}

impl Unit {
    pub fn parse(name: &str, text: &str, path: &Path) -> Result<Unit, UnitError> {
        let mut section = String::new();
        let mut entries = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = s.to_owned();
                continue;
            }
            let (k, v) = line.split_once('=').ok_or_else(|| UnitError::Syntax {
                path: path.to_owned(),
                line: i + 1,
            })?;
            entries.push((section.clone(), k.trim().to_owned(), v.trim().to_owned()));
        }
        Ok(Unit {
            name: name.to_owned(),
            entries,
        })
    }

    pub fn load(path: &Path) -> Result<Unit, UnitError> {
        let text = std::fs::read_to_string(path).map_err(|source| UnitError::Io {
            path: path.to_owned(),
            source,
        })?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Unit::parse(&name, &text, path)
    }

    /// Every value of `key` in `section`, in order (an empty assignment resets the list, as
    /// systemd does).
    pub fn values(&self, section: &str, key: &str) -> Vec<&str> {
        let mut out = Vec::new();
        for (s, k, v) in &self.entries {
            if s == section && k == key {
                if v.is_empty() {
                    out.clear();
                } else {
                    out.push(v.as_str());
                }
            }
        }
        out
    }

    /// The last value of `key` in `section`.
    pub fn value(&self, section: &str, key: &str) -> Option<&str> {
        self.values(section, key).last().copied()
    }

    /// Space-separated list values, all assignments joined.
    pub fn words(&self, section: &str, key: &str) -> Vec<&str> {
        self.values(section, key)
            .into_iter()
            .flat_map(str::split_whitespace)
            .collect()
    }

    pub fn is_service(&self) -> bool {
        self.name.ends_with(".service")
    }

    pub fn is_socket(&self) -> bool {
        self.name.ends_with(".socket")
    }

    fn invalid(&self, problem: impl Into<String>) -> UnitError {
        UnitError::Invalid {
            unit: self.name.clone(),
            problem: problem.into(),
        }
    }
}

/// Every `.service` and `.socket` in `dir`, sorted by name.
pub fn load_dir(dir: &Path) -> Result<Vec<Unit>, UnitError> {
    let io = |source| UnitError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x == "service" || x == "socket")
        })
        .collect();
    paths.sort();
    paths.iter().map(|p| Unit::load(p)).collect()
}

/// Where a socket unit listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// `ListenStream=<port>` (all addresses, dual-stack).
    TcpPort(u16),
    /// `ListenStream=/path`.
    UnixStream(PathBuf),
    /// `ListenDatagram=/path`.
    UnixDatagram(PathBuf),
}

/// One `.socket` unit, as the harness needs it.
#[derive(Debug, Clone)]
pub struct SocketSpec {
    pub unit: String,
    pub fd_name: String,
    pub listen: Listen,
    /// `SocketMode=` (Unix sockets), octal.
    pub mode: Option<u32>,
    /// `SocketUser=` / `SocketGroup=` (Unix sockets).
    pub user: Option<String>,
    pub group: Option<String>,
    /// The service it activates.
    pub service: String,
}

impl SocketSpec {
    pub fn from_unit(u: &Unit) -> Result<SocketSpec, UnitError> {
        let streams = u.values("Socket", "ListenStream");
        let datagrams = u.values("Socket", "ListenDatagram");
        let listen = match (streams.as_slice(), datagrams.as_slice()) {
            ([s], []) if s.starts_with('/') => Listen::UnixStream(PathBuf::from(s)),
            ([s], []) => Listen::TcpPort(
                s.parse()
                    .map_err(|_| u.invalid(format!("ListenStream={s} is not a port")))?,
            ),
            ([], [d]) if d.starts_with('/') => Listen::UnixDatagram(PathBuf::from(d)),
            _ => return Err(u.invalid("expected exactly one ListenStream= or ListenDatagram=")),
        };
        let fd_name = u
            .value("Socket", "FileDescriptorName")
            .ok_or_else(|| u.invalid("no FileDescriptorName="))?
            .to_owned();
        let mode = match u.value("Socket", "SocketMode") {
            Some(m) => Some(
                u32::from_str_radix(m, 8)
                    .map_err(|_| u.invalid(format!("SocketMode={m} is not octal")))?,
            ),
            None => None,
        };
        let service = u
            .value("Socket", "Service")
            .map(str::to_owned)
            .unwrap_or_else(|| u.name.replace(".socket", ".service"));
        Ok(SocketSpec {
            unit: u.name.clone(),
            fd_name,
            listen,
            mode,
            user: u.value("Socket", "SocketUser").map(str::to_owned),
            group: u.value("Socket", "SocketGroup").map(str::to_owned),
            service,
        })
    }
}

/// One `.service` unit and its sockets, in `Sockets=` order.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    pub unit: Unit,
    /// The program `ExecStart=` runs.
    pub exec: PathBuf,
    /// Its file name: the workspace binary.
    pub binary: String,
    pub sockets: Vec<SocketSpec>,
}

impl ServiceSpec {
    pub fn name(&self) -> &str {
        &self.unit.name
    }

    /// `setpriv` arguments that give a process the unit's `User=`, `Group=` and
    /// `SupplementaryGroups=` the way systemd does (for running as the real users).
    pub fn credentials(&self) -> Vec<String> {
        let mut v = vec!["setpriv".to_owned()];
        if let Some(u) = self.unit.value("Service", "User") {
            v.push(format!("--reuid={u}"));
        }
        if let Some(g) = self.unit.value("Service", "Group") {
            v.push(format!("--regid={g}"));
        }
        let groups = self.unit.words("Service", "SupplementaryGroups");
        if groups.is_empty() {
            v.push("--clear-groups".into());
        } else {
            v.push(format!("--groups={}", groups.join(",")));
        }
        v
    }
}

/// Pairs every service with its sockets and checks the two sides name each other.
pub fn services(units: &[Unit]) -> Result<Vec<ServiceSpec>, UnitError> {
    let sockets: Vec<SocketSpec> = units
        .iter()
        .filter(|u| u.is_socket())
        .map(SocketSpec::from_unit)
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for u in units.iter().filter(|u| u.is_service()) {
        let exec = u
            .value("Service", "ExecStart")
            .and_then(|e| e.split_whitespace().next())
            .ok_or_else(|| u.invalid("no ExecStart="))?;
        let exec = PathBuf::from(exec);
        let binary = exec
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| u.invalid("ExecStart= names no program"))?;
        let mut mine = Vec::new();
        for name in u.words("Service", "Sockets") {
            let s = sockets
                .iter()
                .find(|s| s.unit == name)
                .ok_or_else(|| u.invalid(format!("Sockets= names {name}, which does not exist")))?;
            if s.service != u.name {
                return Err(u.invalid(format!("{name} activates {}, not this", s.service)));
            }
            mine.push(s.clone());
        }
        for s in sockets.iter().filter(|s| s.service == u.name) {
            if !mine.iter().any(|m| m.unit == s.unit) {
                return Err(u.invalid(format!("{} points here but is not in Sockets=", s.unit)));
            }
        }
        out.push(ServiceSpec {
            unit: u.clone(),
            exec,
            binary,
            sockets: mine,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_repeated_keys_and_resets() {
        let u = Unit::parse(
            "x.service",
            "[Service]\n# c\nSocketsX=a b\nA=1\nA=\nA=2\nA=3\n[Install]\nA=9\n",
            Path::new("x"),
        )
        .unwrap();
        assert_eq!(u.values("Service", "A"), vec!["2", "3"]);
        assert_eq!(u.value("Install", "A"), Some("9"));
        assert_eq!(u.words("Service", "SocketsX"), vec!["a", "b"]);
        assert!(Unit::parse("y", "[S]\nnot a line\n", Path::new("y")).is_err());
    }

    #[test]
    fn socket_spec_kinds() {
        let tcp = Unit::parse(
            "a.socket",
            "[Socket]\nListenStream=25\nFileDescriptorName=mx\nService=s.service\n",
            Path::new("a"),
        )
        .unwrap();
        let s = SocketSpec::from_unit(&tcp).unwrap();
        assert_eq!(s.listen, Listen::TcpPort(25));
        assert_eq!(s.service, "s.service");
        let dg = Unit::parse(
            "b.socket",
            "[Socket]\nListenDatagram=/run/x.sock\nFileDescriptorName=wake\nSocketMode=0666\n",
            Path::new("b"),
        )
        .unwrap();
        let s = SocketSpec::from_unit(&dg).unwrap();
        assert_eq!(s.listen, Listen::UnixDatagram("/run/x.sock".into()));
        assert_eq!(s.mode, Some(0o666));
        assert_eq!(s.service, "b.service");
        let nameless =
            Unit::parse("c.socket", "[Socket]\nListenStream=1\n", Path::new("c")).unwrap();
        assert!(SocketSpec::from_unit(&nameless).is_err());
    }
}
