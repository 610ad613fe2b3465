//! A GlusterFS replica volume `mail` on storage nodes in network namespaces, FUSE-mounted
//! for mail hosts, for tests of several hosts over one shared store.
//!
//! Each node's glusterd runs inside its own network namespace (`ip netns exec`, which also
//! gives it a private mount namespace) with private state: per-node directories are
//! bind-mounted over `/var/lib/glusterd`, `/var/log/glusterfs` and `/run/gluster` before
//! glusterd is exec'd, and its CLI socket lives in the node's directory, so nodes never see
//! each other's state and the machine's own glusterd (if any) is not touched. The FUSE
//! client of a mail host runs in the host's network namespace but mounts in the root mount
//! namespace (`nsenter --net`), where daemons started with [`Place::net_only_prefix`] see it.
//!
//! Everything is undone on drop: mounts lazily unmounted, clients and node processes killed.
//! Every wait is bounded.

use std::fs::File;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::netns::{LanHost, Place};
use crate::require_tool;

/// The volume every test uses.
pub const VOLUME: &str = "mail";

/// How long a lost brick may go unnoticed by clients (`network.ping-timeout`, seconds).
pub const PING_TIMEOUT_SECS: u32 = 5;

/// The client-side caches turned off on the volume: with them a host can act on another
/// host's stale metadata (a name renamed over elsewhere gives `ESTALE`, a file read from a
/// cache after another host rewrote it), while mailboxes need every host to see the last
/// committed state at once.
pub const CLIENT_CACHES: [&str; 7] = [
    "performance.stat-prefetch",
    "performance.quick-read",
    "performance.open-behind",
    "performance.io-cache",
    "performance.read-ahead",
    "performance.readdir-ahead",
    "performance.write-behind",
];

/// Bound of every single step (a CLI call, a node coming up, a mount appearing).
const STEP: Duration = Duration::from_secs(60);

/// Why a Gluster test cannot run here, if it cannot: not root, no usable FUSE, no GlusterFS
/// binaries. (Namespaces are checked when the Lan is made.)
pub fn unavailable() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("GlusterFS nodes need root".into());
    }
    for (tool, package) in [
        ("glusterd", "glusterfs-server"),
        ("gluster", "glusterfs-server"),
        ("glusterfs", "glusterfs-client"),
        ("nsenter", "util-linux"),
    ] {
        if let Err(e) = require_tool(tool, package) {
            return Some(e);
        }
    }
    let fuse_fs = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    if !fuse_fs
        .lines()
        .any(|l| l.split_whitespace().last() == Some("fuse"))
    {
        return Some("the kernel has no fuse file system".into());
    }
    if let Err(e) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
    {
        return Some(format!("/dev/fuse is not usable: {e}"));
    }
    None
}

/// One storage node: a namespace of the Lan and the node's private directory.
#[derive(Debug)]
pub struct Node {
    pub host: LanHost,
    dir: PathBuf,
    glusterd: Option<Child>,
}

impl Node {
    fn sock(&self) -> PathBuf {
        self.dir.join("glusterd.socket")
    }

    /// The brick directory (inside the node's directory).
    pub fn brick(&self) -> PathBuf {
        self.dir.join("brick")
    }

    fn brick_spec(&self) -> String {
        format!("{}:{}", self.host.ip, self.brick().display())
    }

    /// The node's glusterd log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log/glusterd.log")).unwrap_or_default()
    }
}

/// One FUSE mount of the volume.
#[derive(Debug)]
struct Mount {
    at: PathBuf,
    pid_file: PathBuf,
}

/// The storage nodes and the mounts of their volume.
#[derive(Debug)]
pub struct Gluster {
    pub nodes: Vec<Node>,
    mounts: Vec<Mount>,
    /// Time from the first glusterd start until the volume was started.
    pub bring_up: Duration,
}

impl Gluster {
    /// Starts glusterd on every node (each in its host's namespace, state under
    /// `dir/<role>`), probes the peers from the first, creates the replica volume [`VOLUME`]
    /// with one brick per node, sets [`PING_TIMEOUT_SECS`] and starts it.
    pub fn start(nodes: &[LanHost], dir: &Path) -> Result<Gluster, String> {
        let started = Instant::now();
        let mut g = Gluster {
            nodes: Vec::new(),
            mounts: Vec::new(),
            bring_up: Duration::ZERO,
        };
        for host in nodes {
            let node_dir = dir.join(&host.role);
            for sub in ["lib", "log", "run", "brick"] {
                std::fs::create_dir_all(node_dir.join(sub))
                    .map_err(|e| format!("{}: {e}", node_dir.display()))?;
            }
            seed_state(&node_dir.join("lib"))?;
            write_volfile(&node_dir)?;
            g.nodes.push(Node {
                host: host.clone(),
                dir: node_dir,
                glusterd: None,
            });
        }
        for i in 0..g.nodes.len() {
            g.spawn_glusterd(i)?;
        }
        for other in &g.nodes[1..] {
            g.cli(0, &["peer", "probe", &other.host.ip.to_string()])?;
        }
        g.wait_until("every peer connected", |g| {
            let status = g.cli(0, &["peer", "status"]).unwrap_or_default();
            status.matches("State: Peer in Cluster (Connected)").count() == g.nodes.len() - 1
        })?;
        let mut create = vec![
            "volume".to_owned(),
            "create".to_owned(),
            VOLUME.to_owned(),
            "replica".to_owned(),
            g.nodes.len().to_string(),
        ];
        create.extend(g.nodes.iter().map(Node::brick_spec));
        // Bricks on the root file system need `force`.
        create.push("force".to_owned());
        let create: Vec<&str> = create.iter().map(String::as_str).collect();
        g.cli(0, &create)?;
        let ping = PING_TIMEOUT_SECS.to_string();
        g.cli(0, &["volume", "set", VOLUME, "network.ping-timeout", &ping])?;
        // The self-heal daemons' own crawl every 5 s rather than every 10 minutes.
        g.cli(0, &["volume", "set", VOLUME, "cluster.heal-timeout", "5"])?;
        for option in CLIENT_CACHES {
            g.cli(0, &["volume", "set", VOLUME, option, "off"])?;
        }
        g.cli(0, &["volume", "start", VOLUME])?;
        g.wait_bricks_online()?;
        g.bring_up = started.elapsed();
        Ok(g)
    }

    /// Runs `glusterd -N` for node `i` inside its namespace, over its private directories.
    fn spawn_glusterd(&mut self, i: usize) -> Result<(), String> {
        let node = &mut self.nodes[i];
        let d = node.dir.display().to_string();
        let script = format!(
            "mount --bind {d}/lib /var/lib/glusterd && \
             mount --bind {d}/log /var/log/glusterfs && \
             mount --bind {d}/run /run/gluster && \
             exec glusterd -N -f {d}/glusterd.vol"
        );
        let out = File::create(node.dir.join("glusterd.out"))
            .map_err(|e| format!("{}: {e}", node.dir.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = node
            .host
            .place
            .command("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("starting glusterd on {}: {e}", node.host.role))?;
        node.glusterd = Some(child);
        let sock = node.sock();
        let role = node.host.role.clone();
        self.wait_until(&format!("glusterd of {role} answering"), |g| {
            sock.exists() && g.cli(i, &["peer", "status"]).is_ok()
        })
    }

    /// Runs the gluster CLI against node `i`'s glusterd; stdout, or an error with the output.
    pub fn cli(&self, i: usize, args: &[&str]) -> Result<String, String> {
        let node = &self.nodes[i];
        crate::run(
            Command::new("timeout")
                .arg(STEP.as_secs().to_string())
                .arg("gluster")
                .arg("--mode=script")
                .arg(format!("--glusterd-sock={}", node.sock().display()))
                .args(args)
                .stdin(Stdio::null()),
        )
        .map_err(|e| format!("on {}: {e}", node.host.role))
    }

    /// A node whose glusterd is up, to ask about the volume.
    fn live_node(&self) -> usize {
        self.nodes
            .iter()
            .position(|n| n.glusterd.is_some())
            .unwrap_or(0)
    }

    /// Polls `ok` every 200 ms for at most [`STEP`].
    fn wait_until(&self, what: &str, ok: impl Fn(&Gluster) -> bool) -> Result<(), String> {
        let deadline = Instant::now() + STEP;
        loop {
            if ok(self) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let logs: String = self
                    .nodes
                    .iter()
                    .map(|n| {
                        format!(
                            "----- {} glusterd.log (tail) -----\n{}\n",
                            n.host.role,
                            tail(&n.log(), 30)
                        )
                    })
                    .collect();
                return Err(format!("not within {STEP:?}: {what}\n{logs}"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// How many bricks `volume status` shows online (read from its XML form: the text form
    /// wraps long brick paths onto a second line).
    fn bricks_online(&self) -> usize {
        let status = self
            .cli(self.live_node(), &["--xml", "volume", "status", VOLUME])
            .unwrap_or_default();
        status
            .split("<node>")
            .skip(1)
            .filter(|n| n.contains("<path>/") && n.contains("<status>1</status>"))
            .count()
    }

    /// Whether every brick serves as many clients (mounts, self-heal daemons) as the one
    /// serving most: a brick back from a partition or restart is online for glusterd before
    /// the clients have reconnected to it, and until they have, losing another brick costs
    /// them their quorum.
    fn clients_reconnected(&self) -> bool {
        let status = self
            .cli(
                self.live_node(),
                &["--xml", "volume", "status", VOLUME, "clients"],
            )
            .unwrap_or_default();
        let counts: Vec<u32> = status
            .split("<node>")
            .skip(1)
            .filter(|n| n.contains("<path>/"))
            .filter_map(|n| {
                let from = n.find("<clientCount>")? + "<clientCount>".len();
                n[from..].split('<').next()?.trim().parse().ok()
            })
            .collect();
        counts.len() == self.nodes.len()
            && counts
                .iter()
                .all(|c| *c > 0 && Some(c) == counts.iter().max())
    }

    fn wait_bricks_online(&self) -> Result<(), String> {
        let want = self.nodes.iter().filter(|n| n.glusterd.is_some()).count();
        self.wait_until(&format!("{want} bricks online"), |g| {
            g.bricks_online() == want
        })
    }

    /// FUSE-mounts the volume at `at` with the client in `client`'s network namespace and
    /// the mount in the caller's mount namespace, fetching the volume from `server`. Caches
    /// of attributes and names are off, so every host sees another host's change at once.
    pub fn mount(&mut self, client: &Place, server: IpAddr, at: &Path) -> Result<(), String> {
        std::fs::create_dir_all(at).map_err(|e| format!("{}: {e}", at.display()))?;
        let n = self.mounts.len();
        let base = self.nodes[0]
            .dir
            .parent()
            .map(Path::to_owned)
            .unwrap_or_else(|| PathBuf::from("/tmp"));
        let pid_file = base.join(format!("client-{n}.pid"));
        let log = base.join(format!("client-{n}.log"));
        let mut cmd = match client.net_only_prefix().split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg("glusterfs");
                c
            }
            None => Command::new("glusterfs"),
        };
        cmd.arg(format!("--volfile-server={server}"))
            .arg(format!("--volfile-id={VOLUME}"))
            .arg(format!("--log-file={}", log.display()))
            .arg(format!("--pid-file={}", pid_file.display()))
            .args([
                "--attribute-timeout=0",
                "--entry-timeout=0",
                "--negative-timeout=0",
            ])
            .arg(at);
        crate::run(&mut cmd)?;
        self.mounts.push(Mount {
            at: at.to_owned(),
            pid_file,
        });
        let at = at.to_owned();
        self.wait_until(&format!("{} mounted", at.display()), |_| is_mounted(&at))
    }

    /// Kills node `i` at once (SIGKILL to glusterd, its brick and its self-heal daemon), as
    /// a crash or a power loss would.
    pub fn stop_node(&mut self, i: usize) -> Result<(), String> {
        let ns = self.nodes[i]
            .host
            .place
            .netns_name()
            .map(str::to_owned)
            .ok_or("a storage node must be in a namespace")?;
        kill_namespace(&ns);
        if let Some(mut child) = self.nodes[i].glusterd.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.wait_until(&format!("every process of {ns} gone"), |_| {
            namespace_pids(&ns).is_empty()
        })
    }

    /// Restarts node `i` after [`Gluster::stop_node`]: glusterd again, then `volume start
    /// force` re-spawns its brick; returns once every brick is online.
    pub fn start_node(&mut self, i: usize) -> Result<(), String> {
        self.spawn_glusterd(i)?;
        let role = self.nodes[i].host.role.clone();
        let peers = self.nodes.len() - 1;
        self.wait_until(&format!("{role} connected to its peers"), |g| {
            let status = g.cli(i, &["peer", "status"]).unwrap_or_default();
            status.matches("State: Peer in Cluster (Connected)").count() == peers
        })?;
        self.cli(i, &["volume", "start", VOLUME, "force"])?;
        self.wait_bricks_online()
    }

    /// Cuts node `i` off the network (its link down) without stopping anything: its peers
    /// and clients see silence, not a closed connection, and wait out the ping timeout.
    pub fn cut_node(&self, i: usize) -> Result<(), String> {
        self.node_link(i, "down")
    }

    /// Puts node `i` back on the network after [`Gluster::cut_node`] and waits until every
    /// brick is online again.
    pub fn reconnect_node(&self, i: usize) -> Result<(), String> {
        self.node_link(i, "up")?;
        self.wait_bricks_online()
    }

    fn node_link(&self, i: usize, state: &str) -> Result<(), String> {
        let ns = self.nodes[i]
            .host
            .place
            .netns_name()
            .ok_or("a storage node must be in a namespace")?;
        crate::run(Command::new("ip").args(["-n", ns, "link", "set", "eth0", state])).map(|_| ())
    }

    /// Waits (at most `timeout`) until no brick has anything left to heal, every brick is
    /// online and every client is connected to every brick; starts a heal first so it need not wait for the self-heal daemon's period.
    /// Pending heals are read from the bricks' heal indices, which is what `volume heal info`
    /// reports; that command itself runs glfsheal, which finds glusterd only at the default
    /// socket path that these private nodes do not use.
    pub fn wait_healed(&self, timeout: Duration) -> Result<Duration, String> {
        let started = Instant::now();
        let mut pending = Vec::new();
        let mut asked = None::<Instant>;
        while started.elapsed() < timeout {
            // Asked again now and then: a heal asked for before the self-heal daemons are
            // connected to the returned brick again does nothing.
            if asked.is_none_or(|t| t.elapsed() > Duration::from_secs(3)) {
                let _ = self.cli(self.live_node(), &["volume", "heal", VOLUME]);
                asked = Some(Instant::now());
            }
            pending = self
                .nodes
                .iter()
                .flat_map(|n| pending_heals(&n.brick()))
                .collect();
            if pending.is_empty()
                && self.bricks_online() == self.nodes.len()
                && self.clients_reconnected()
            {
                return Ok(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        let clients = self
            .cli(self.live_node(), &["volume", "status", VOLUME, "clients"])
            .unwrap_or_else(|e| e);
        Err(format!(
            "not healed within {timeout:?}; pending: {pending:?}\n{clients}"
        ))
    }
}

/// The entries of a brick's heal indices (`.glusterfs/indices/{xattrop,dirty,entry-changes}`)
/// other than each index's own base file: files or directories some copy still lacks.
fn pending_heals(brick: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for index in ["xattrop", "dirty", "entry-changes"] {
        let dir = brick.join(".glusterfs/indices").join(index);
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            if !e
                .file_name()
                .to_string_lossy()
                .starts_with(&format!("{index}-"))
            {
                out.push(e.path());
            }
        }
    }
    out
}

impl Drop for Gluster {
    fn drop(&mut self) {
        for m in &self.mounts {
            let _ = Command::new("umount").arg("-l").arg(&m.at).status();
            let pid = std::fs::read_to_string(&m.pid_file)
                .ok()
                .and_then(|p| p.trim().parse::<i32>().ok());
            if let Some(pid) = pid {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        for node in &mut self.nodes {
            if let Some(ns) = node.host.place.netns_name() {
                kill_namespace(ns);
            }
            if let Some(mut child) = node.glusterd.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Copies the packaged glusterd state skeleton (hook scripts, option groups) into a node's
/// private state directory; an empty skeleton is fine.
fn seed_state(lib: &Path) -> Result<(), String> {
    let skel = Path::new("/var/lib/glusterd");
    if skel.is_dir() {
        crate::run(
            Command::new("cp")
                .arg("-a")
                .arg(format!("{}/.", skel.display()))
                .arg(lib),
        )?;
    }
    Ok(())
}

/// The node's glusterd volfile: the packaged one, with the CLI socket in the node's
/// directory (the default path is shared by every glusterd of the machine) and IPv4 peers.
fn write_volfile(node_dir: &Path) -> Result<(), String> {
    let packaged = std::fs::read_to_string("/etc/glusterfs/glusterd.vol")
        .map_err(|e| format!("/etc/glusterfs/glusterd.vol: {e}"))?;
    let extra = format!(
        "    option transport-type socket\n    option glusterd-sockfile {}\n    \
         option transport.address-family inet\n",
        node_dir.join("glusterd.socket").display()
    );
    let vol: String = packaged
        .lines()
        .flat_map(|l| {
            if l.trim() == "option transport-type socket" {
                vec![extra.trim_end().to_owned()]
            } else {
                vec![l.to_owned()]
            }
        })
        .map(|l| l + "\n")
        .collect();
    if !vol.contains("glusterd-sockfile") {
        return Err("/etc/glusterfs/glusterd.vol has no `option transport-type socket`".into());
    }
    std::fs::write(node_dir.join("glusterd.vol"), vol)
        .map_err(|e| format!("{}: {e}", node_dir.display()))
}

/// Whether a file system is mounted exactly at `at`.
pub fn is_mounted(at: &Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let at = at.to_string_lossy();
    info.lines()
        .any(|l| l.split_whitespace().nth(4) == Some(at.as_ref()))
}

fn namespace_pids(ns: &str) -> Vec<i32> {
    Command::new("ip")
        .args(["netns", "pids", ns])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// SIGKILLs every process in the namespace (only a storage node's own processes live there).
fn kill_namespace(ns: &str) {
    for pid in namespace_pids(ns) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
