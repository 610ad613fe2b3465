//! Network namespaces for tests that need separate hosts on real addresses and standard
//! ports: a [`Lan`] of namespaces (a "wan" namespace with a bridge, and one namespace per
//! host wired to it by a veth pair) that is deleted on drop, and [`Place`], which runs test
//! client code or a command inside one of them.
//!
//! A socket belongs to the network namespace of the thread that created it, so client code
//! runs in a short-lived thread that first enters the namespace with `setns`; the thread's
//! sockets stay there whichever thread uses them later. Nothing here touches the root
//! namespace's addresses, routes or sysctls.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use nix::sched::{setns, CloneFlags};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Where named namespaces are mounted by `ip netns add`.
pub const NETNS_DIR: &str = "/var/run/netns";

/// Prefix of every namespace this module creates: `<prefix>-<pid>-<seq>-<role>`.
const PREFIX: &str = "fmtest";

/// Where a piece of test client code runs: in the test's own network namespace, or inside a
/// named one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Place {
    netns: Option<String>,
}

impl Place {
    /// The test process's own network.
    pub fn here() -> Place {
        Place { netns: None }
    }

    /// Inside the named namespace (as created by `ip netns add`).
    pub fn netns(name: &str) -> Place {
        Place {
            netns: Some(name.to_owned()),
        }
    }

    /// The namespace's name, if this is not the test's own network.
    pub fn netns_name(&self) -> Option<&str> {
        self.netns.as_deref()
    }

    /// Runs `f` where this place is: directly, or in a thread that has entered the namespace
    /// (so every socket `f` opens is there). A panic in `f` propagates to the caller.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let Some(ns) = &self.netns else {
            return f();
        };
        std::thread::scope(|s| {
            let t = s.spawn(|| {
                if let Err(e) = enter(ns) {
                    panic!("{e}");
                }
                f()
            });
            t.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    /// The words to put before a program to start it here: `ip netns exec <ns>`, which execs
    /// the program (its pid is the program's), or nothing.
    pub fn prefix(&self) -> Vec<String> {
        match &self.netns {
            None => Vec::new(),
            Some(ns) => ["ip", "netns", "exec", ns].map(String::from).to_vec(),
        }
    }

    /// The words to put before a program to run it in this place's network but in the
    /// caller's mount namespace (`nsenter --net=…`, which execs the program), so that it sees
    /// mounts made later by the caller, such as a FUSE file system; nothing for the test's own
    /// network.
    pub fn net_only_prefix(&self) -> Vec<String> {
        match &self.netns {
            None => Vec::new(),
            Some(ns) => vec![
                "nsenter".to_owned(),
                format!("--net={}", ns_path(ns).display()),
            ],
        }
    }

    /// A command that runs `program` here.
    pub fn command(&self, program: &str) -> Command {
        let prefix = self.prefix();
        match prefix.split_first() {
            None => Command::new(program),
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(program);
                c
            }
        }
    }

    /// Whether process `pid` is in this place's network namespace (for a namespace place;
    /// always true for [`Place::here`]).
    pub fn contains_pid(&self, pid: u32) -> Result<bool, String> {
        use std::os::unix::fs::MetadataExt;
        let Some(ns) = &self.netns else {
            return Ok(true);
        };
        let meta = |p: &Path| std::fs::metadata(p).map_err(|e| format!("{}: {e}", p.display()));
        let theirs = meta(Path::new(&format!("/proc/{pid}/ns/net")))?;
        let ours = meta(&ns_path(ns))?;
        Ok((theirs.dev(), theirs.ino()) == (ours.dev(), ours.ino()))
    }
}

fn ns_path(name: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(name)
}

/// Moves the calling thread into the named network namespace.
pub fn enter(name: &str) -> Result<(), String> {
    let path = ns_path(name);
    let f = File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    setns(f, CloneFlags::CLONE_NEWNET).map_err(|e| format!("setns({}): {e}", path.display()))
}

/// Runs `ip <args>`; the error names the command and carries its stderr.
fn ip(args: &[&str]) -> Result<(), String> {
    let shown = format!("ip {}", args.join(" "));
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("`{shown}`: {e} (is iproute2 installed?)"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{shown}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// One host of a [`Lan`].
#[derive(Debug, Clone)]
pub struct LanHost {
    /// The name the host was created under (`h0`, `h1`, … for [`Lan::create`]).
    pub role: String,
    pub place: Place,
    pub ip: IpAddr,
}

/// A small network of namespaces: `wan` holds a bridge with [`Lan::WAN_IP`] (for servers
/// like DNS and for outside clients); each host has its own namespace with `eth0` on the
/// bridge and `lo` up. All namespaces are deleted on drop, even during a panic; the veth
/// pairs go with them.
///
/// Every Lan uses the same subnet: namespaces are isolated from each other and from the
/// root namespace, so only the names need to be unique, and they carry the pid and a
/// per-process counter.
#[derive(Debug)]
pub struct Lan {
    /// Created namespaces, in creation order.
    names: Vec<String>,
    pub wan: Place,
    wan_ip: Ipv4Addr,
    pub hosts: Vec<LanHost>,
}

static SEQ: AtomicU32 = AtomicU32::new(0);

impl Lan {
    /// The wan namespace's address on the bridge.
    pub const WAN_IP: Ipv4Addr = Ipv4Addr::new(10, 231, 0, 254);

    /// Creates the wan namespace and `hosts` host namespaces (at most 200) with addresses
    /// 10.231.0.1, .2, … . Any error (not root, no CAP_SYS_ADMIN, no `ip`, no veth or
    /// bridge support) comes back as a reason to skip; what was created is removed again.
    pub fn create(hosts: usize) -> Result<Lan, String> {
        if hosts > 200 {
            return Err(format!("{hosts} hosts: at most 200"));
        }
        let roles: Vec<(String, Ipv4Addr)> = (0..hosts)
            .map(|i| (format!("h{i}"), Ipv4Addr::new(10, 231, 0, i as u8 + 1)))
            .collect();
        let roles: Vec<(&str, Ipv4Addr)> = roles.iter().map(|(r, a)| (r.as_str(), *a)).collect();
        Lan::create_named(&[Lan::WAN_IP], &roles)
    }

    /// Creates the wan namespace with every address of `wan_ips` on its bridge (the first is
    /// [`Lan::wan_ip`]), and one namespace per `(role, address)` of `hosts`, all in the /24 of
    /// the first wan address; each host's namespace name ends in `-<role>`. Errors as for
    /// [`Lan::create`].
    pub fn create_named(wan_ips: &[Ipv4Addr], hosts: &[(&str, Ipv4Addr)]) -> Result<Lan, String> {
        let Some(&wan_ip) = wan_ips.first() else {
            return Err("a Lan needs at least one wan address".into());
        };
        reap_stale();
        let base = format!(
            "{PREFIX}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let wan_name = format!("{base}-wan");
        let mut lan = Lan {
            names: Vec::new(),
            wan: Place::netns(&wan_name),
            wan_ip,
            hosts: Vec::new(),
        };
        ip(&["netns", "add", &wan_name])?;
        lan.names.push(wan_name.clone());
        // Fail early, with the real reason, where setns is not allowed.
        std::thread::scope(|s| s.spawn(|| enter(&wan_name)).join())
            .map_err(|_| "entering a namespace panicked".to_string())??;
        let w = wan_name.as_str();
        ip(&["-n", w, "link", "set", "lo", "up"])?;
        ip(&["-n", w, "link", "add", "br0", "type", "bridge"])?;
        for a in wan_ips {
            ip(&["-n", w, "addr", "add", &format!("{a}/24"), "dev", "br0"])?;
        }
        ip(&["-n", w, "link", "set", "br0", "up"])?;
        for (i, (role, host_ip)) in hosts.iter().enumerate() {
            let name = format!("{base}-{role}");
            ip(&["netns", "add", &name])?;
            lan.names.push(name.clone());
            let port = format!("veth{i}");
            let cidr = format!("{host_ip}/24");
            ip(&[
                "-n", w, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns",
                &name,
            ])?;
            ip(&["-n", w, "link", "set", &port, "master", "br0"])?;
            ip(&["-n", w, "link", "set", &port, "up"])?;
            ip(&["-n", &name, "addr", "add", &cidr, "dev", "eth0"])?;
            ip(&["-n", &name, "link", "set", "eth0", "up"])?;
            ip(&["-n", &name, "link", "set", "lo", "up"])?;
            lan.hosts.push(LanHost {
                role: (*role).to_owned(),
                place: Place::netns(&name),
                ip: IpAddr::V4(*host_ip),
            });
        }
        Ok(lan)
    }

    /// The wan namespace's first address on the bridge.
    pub fn wan_ip(&self) -> Ipv4Addr {
        self.wan_ip
    }

    /// The host created for `role`.
    pub fn host(&self, role: &str) -> Option<&LanHost> {
        self.hosts.iter().find(|h| h.role == role)
    }

    /// The namespaces' names, wan first.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for name in self.names.iter().rev() {
            if let Err(e) = ip(&["netns", "del", name]) {
                eprintln!("netns cleanup: {e}");
            }
        }
    }
}

/// Deletes namespaces left by test processes that were killed before their [`Lan`] was
/// dropped (SIGKILL, a runner's timeout): ours by prefix, and only when that pid is gone. The
/// daemons such a test started are still running inside them and would keep the namespace
/// alive, so they are killed first: nothing but those tests starts processes in them.
fn reap_stale() {
    let Ok(rd) = std::fs::read_dir(NETNS_DIR) else {
        return;
    };
    for e in rd.flatten().take(10_000) {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|r| r.strip_prefix('-'))
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let inside = Command::new("ip")
            .args(["netns", "pids", &name])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        for pid in inside.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        if let Err(e) = ip(&["netns", "del", &name]) {
            eprintln!("stale netns cleanup: {e}");
        }
    }
}
