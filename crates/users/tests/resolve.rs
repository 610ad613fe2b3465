//! Recipient resolution through UserDb.

use std::fs;
use std::path::{Path, PathBuf};

use ferrymail_users::{
    AuthCacheConfig, Destination, ResolveError, UnixAccountsConfig, UserDb, UserDbConfig,
    MAX_ALIAS_DEPTH,
};

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new(passwd: &str, aliases: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("passwd"), passwd).unwrap();
        fs::write(dir.path().join("aliases"), aliases).unwrap();
        fs::write(dir.path().join("domains"), "b.test\n").unwrap();
        Setup { dir }
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        fs::write(&p, text).unwrap();
        p
    }

    fn config(&self) -> UserDbConfig {
        UserDbConfig {
            passwd_file: self.dir.path().join("passwd"),
            aliases_file: Some(self.dir.path().join("aliases")),
            domains_file: Some(self.dir.path().join("domains")),
            local_domains: vec!["A.test".into()],
            unix_accounts: None,
            recipient_delimiter: Some('+'),
            auth_cache: AuthCacheConfig::default(),
        }
    }

    fn open(&self) -> UserDb {
        UserDb::open(self.config()).unwrap()
    }
}

/// A compact, order-preserving description of destinations.
fn names(d: &[Destination]) -> Vec<String> {
    d.iter()
        .map(|d| match d {
            Destination::Virtual(v) => format!("virtual:{}", v.login),
            Destination::Unix(u) => format!("unix:{}", u.name),
            Destination::Remote(a) => format!("remote:{a}"),
            Destination::File(p) => format!("file:{}", p.display()),
            Destination::Pipe(c) => format!("pipe:{c}"),
        })
        .collect()
}

fn resolve(db: &UserDb, addr: &str) -> Vec<String> {
    names(&db.resolve(addr).unwrap_or_else(|e| panic!("{addr}: {e}")))
}

const USERS: &str = "\
joe@a.test:{PLAIN}x
ann@a.test:{PLAIN}x
bob@b.test:{PLAIN}x
root@a.test:{PLAIN}x
sales@a.test:{PLAIN}x
";

#[test]
fn virtual_users_domains_and_case() {
    let s = Setup::new(USERS, "");
    let db = s.open();
    assert_eq!(resolve(&db, "joe@a.test"), ["virtual:joe@a.test"]);
    assert_eq!(resolve(&db, "<JOE@A.Test>"), ["virtual:joe@a.test"]);
    assert_eq!(resolve(&db, "Bob@B.TEST."), ["virtual:bob@b.test"]);
    assert_eq!(
        resolve(&db, "Someone@Remote.example"),
        ["remote:Someone@Remote.example"]
    );
    assert!(db.is_local_domain("a.TEST"));
    assert!(db.is_local_domain("b.test"));
    assert!(!db.is_local_domain("c.test"));
    assert_eq!(db.local_domains(), ["a.test", "b.test"]);
    assert_eq!(
        db.resolve("nobody@a.test"),
        Err(ResolveError::UnknownUser("nobody@a.test".into()))
    );
    assert!(matches!(
        db.resolve("a b@a.test"),
        Err(ResolveError::InvalidAddress(_))
    ));
    assert!(matches!(
        db.resolve("@a.test"),
        Err(ResolveError::InvalidAddress(_))
    ));
    assert!(matches!(
        db.resolve(""),
        Err(ResolveError::InvalidAddress(_))
    ));
}

#[test]
fn lookup_order_exact_alias_then_user_then_bare_alias() {
    let s = Setup::new(
        USERS,
        "\
sales@a.test: ann@a.test
sales: joe@a.test
joe: ann@a.test
",
    );
    let db = s.open();
    // The exact alias beats the virtual user of the same name.
    assert_eq!(resolve(&db, "sales@a.test"), ["virtual:ann@a.test"]);
    // The virtual user beats the bare alias.
    assert_eq!(resolve(&db, "joe@a.test"), ["virtual:joe@a.test"]);
    // A bare alias applies in every local domain when nothing more specific matches.
    assert_eq!(resolve(&db, "sales@b.test"), ["virtual:joe@a.test"]);
    assert_eq!(resolve(&db, "joe@b.test"), ["virtual:ann@a.test"]);
}

#[test]
fn nested_aliases_dedup_and_chain() {
    let s = Setup::new(
        USERS,
        "\
team: dev, ops, joe@a.test
dev: joe@a.test, ann@a.test
ops: ann, outside@remote.example, \"|/usr/bin/page --ops\"
everyone: team, dev, /var/archive/all.mbox
",
    );
    let db = s.open();
    assert_eq!(
        resolve(&db, "everyone@a.test"),
        [
            "virtual:joe@a.test",
            "virtual:ann@a.test",
            "remote:outside@remote.example",
            "pipe:/usr/bin/page --ops",
            "file:/var/archive/all.mbox",
        ]
    );
    let detailed = db.resolve_detailed("everyone@a.test").unwrap();
    assert!(detailed.failures.is_empty());
    let pipe = detailed
        .destinations
        .iter()
        .find(|d| matches!(d.destination, Destination::Pipe(_)))
        .unwrap();
    assert_eq!(pipe.via, ["everyone", "team", "ops"]);
    let direct = db.resolve_detailed("joe@a.test").unwrap();
    assert!(direct.destinations[0].via.is_empty());
}

#[test]
fn bare_targets_take_the_domain_of_the_address() {
    let s = Setup::new(USERS, "postmaster: bob\n");
    let db = s.open();
    assert_eq!(resolve(&db, "postmaster@b.test"), ["virtual:bob@b.test"]);
    assert_eq!(
        db.resolve("postmaster@a.test"),
        Err(ResolveError::UnknownUser("bob@a.test".into()))
    );
}

#[test]
fn self_reference_delivers_to_the_underlying_user() {
    let s = Setup::new(
        &format!("{USERS}admin:{{PLAIN}}x\n"),
        "\
root@a.test: root@a.test, joe@a.test
sales@a.test: sales@a.test, ann@a.test
admin: admin, joe@a.test
",
    );
    let db = s.open();
    assert_eq!(
        resolve(&db, "root@a.test"),
        ["virtual:root@a.test", "virtual:joe@a.test"]
    );
    assert_eq!(
        resolve(&db, "sales@a.test"),
        ["virtual:sales@a.test", "virtual:ann@a.test"]
    );
    // Bare address, bare alias, bare virtual login.
    assert_eq!(
        resolve(&db, "admin"),
        ["virtual:admin", "virtual:joe@a.test"]
    );
}

#[test]
fn loops_are_detected() {
    let s = Setup::new(
        USERS,
        "\
ping: pong
pong: ping
half: ping, joe
selfonly: selfonly
",
    );
    let db = s.open();
    assert!(matches!(
        db.resolve("ping@a.test"),
        Err(ResolveError::AliasLoop(_))
    ));
    assert!(matches!(
        db.resolve("selfonly@a.test"),
        Err(ResolveError::AliasLoop(_))
    ));
    // A loop in one branch does not stop the rest, and is reported.
    assert_eq!(resolve(&db, "half@a.test"), ["virtual:joe@a.test"]);
    let d = db.resolve_detailed("half@a.test").unwrap();
    assert!(
        d.failures
            .iter()
            .any(|(_, e)| matches!(e, ResolveError::AliasLoop(_))),
        "{d:?}"
    );
}

#[test]
fn depth_limit() {
    // A chain exactly MAX_ALIAS_DEPTH aliases long is too deep; one shorter is fine.
    let chain = |n: usize| {
        let mut text = String::new();
        for i in 0..n - 1 {
            text.push_str(&format!("c{i}: c{}\n", i + 1));
        }
        text.push_str(&format!("c{}: joe\n", n - 1));
        text
    };
    let s = Setup::new(USERS, &chain(MAX_ALIAS_DEPTH - 1));
    assert_eq!(resolve(&s.open(), "c0@a.test"), ["virtual:joe@a.test"]);
    let s = Setup::new(USERS, &chain(MAX_ALIAS_DEPTH + 5));
    assert!(matches!(
        s.open().resolve("c0@a.test"),
        Err(ResolveError::AliasLoop(_))
    ));
}

#[test]
fn includes_relative_nested_missing_and_cyclic() {
    let s = Setup::new(
        USERS,
        "\
staff: :include:lists/staff.list
abs: \":include:ABS\"
missing: :include:/nonexistent/ferrymail/list, joe
cyc: :include:cyc1
",
    );
    fs::create_dir(s.dir.path().join("lists")).unwrap();
    s.file(
        "lists/staff.list",
        "# staff\njoe, ann@a.test\n:include:more.list\n",
    );
    s.file("lists/more.list", "outside@remote.example\n\"|/bin/cat\"\n");
    let abs = s.file("abs.list", "bob@b.test\n");
    let aliases = fs::read_to_string(s.dir.path().join("aliases")).unwrap();
    fs::write(
        s.dir.path().join("aliases"),
        aliases.replace("ABS", abs.to_str().unwrap()),
    )
    .unwrap();
    s.file("cyc1", ":include:cyc2\n");
    s.file("cyc2", ":include:cyc1\njoe\n");
    let db = s.open();

    assert_eq!(
        resolve(&db, "staff@a.test"),
        [
            "virtual:joe@a.test",
            "virtual:ann@a.test",
            "remote:outside@remote.example",
            "pipe:/bin/cat"
        ]
    );
    let d = db.resolve_detailed("staff@a.test").unwrap();
    let cat = d
        .destinations
        .iter()
        .find(|d| matches!(d.destination, Destination::Pipe(_)))
        .unwrap();
    let base = s.dir.path().display().to_string();
    assert_eq!(
        cat.via,
        [
            "staff".to_string(),
            format!(":include:{base}/lists/staff.list"),
            format!(":include:{base}/lists/more.list"),
        ]
    );
    assert_eq!(resolve(&db, "abs@a.test"), ["virtual:bob@b.test"]);
    // A missing include is a load issue; the alias's other targets still work.
    assert_eq!(resolve(&db, "missing@a.test"), ["virtual:joe@a.test"]);
    assert!(db
        .load_issues()
        .iter()
        .any(|i| i.file == Path::new("/nonexistent/ferrymail/list")
            && i.reason.contains("not found")));
    // The include cycle is cut at load time; joe from cyc2 is still reached.
    assert_eq!(resolve(&db, "cyc@a.test"), ["virtual:joe@a.test"]);
}

#[test]
fn include_depth_limit_and_empty_include() {
    let s = Setup::new(USERS, "deep: :include:i0\nnone: :include:empty\n");
    for i in 0..8 {
        s.file(
            &format!("i{i}"),
            &format!(":include:i{}\nann@a.test\n", i + 1),
        );
    }
    s.file("i8", "joe@a.test\n");
    s.file("empty", "# nobody\n");
    let db = s.open();
    // ann is reached from the first levels; joe (9 levels down) is not.
    assert_eq!(resolve(&db, "deep@a.test"), ["virtual:ann@a.test"]);
    assert!(db
        .load_issues()
        .iter()
        .any(|i| i.reason.contains("nested deeper")));
    assert_eq!(
        db.resolve("none@a.test"),
        Err(ResolveError::EmptyExpansion("none@a.test".into()))
    );
}

#[test]
fn catch_all_comes_after_everything_else() {
    let s = Setup::new(
        USERS,
        "\
@a.test: ann@a.test
info: joe
@b.test: someone@remote.example
",
    );
    let db = s.open();
    assert_eq!(resolve(&db, "whatever@a.test"), ["virtual:ann@a.test"]);
    assert_eq!(resolve(&db, "joe@a.test"), ["virtual:joe@a.test"]);
    assert_eq!(resolve(&db, "info@a.test"), ["virtual:joe@a.test"]);
    assert_eq!(resolve(&db, "x@b.test"), ["remote:someone@remote.example"]);
    // With a delimiter, the base address beats the catch-all.
    assert_eq!(resolve(&db, "joe+list@a.test"), ["virtual:joe@a.test"]);
}

#[test]
fn recipient_delimiter() {
    let s = Setup::new(USERS, "joe+special@a.test: ann@a.test\nlist: bob@b.test\n");
    let db = s.open();
    assert_eq!(resolve(&db, "joe+tag@a.test"), ["virtual:joe@a.test"]);
    assert_eq!(resolve(&db, "JOE+Tag+more@A.test"), ["virtual:joe@a.test"]);
    // The full form wins when it matches.
    assert_eq!(resolve(&db, "joe+special@a.test"), ["virtual:ann@a.test"]);
    assert_eq!(resolve(&db, "list+x@a.test"), ["virtual:bob@b.test"]);
    // A leading delimiter is not an extension.
    assert!(db.resolve("+joe@a.test").is_err());

    let mut config = s.config();
    config.recipient_delimiter = None;
    let plain = UserDb::open(config).unwrap();
    assert!(matches!(
        plain.resolve("joe+tag@a.test"),
        Err(ResolveError::UnknownUser(_))
    ));
}

#[test]
fn no_expand_targets_skip_aliases() {
    let s = Setup::new(
        USERS,
        "ann@a.test: bob@b.test\nx@a.test: \\ann@a.test\ny@a.test: ann@a.test\nz: \\nobody\n",
    );
    let db = s.open();
    assert_eq!(resolve(&db, "ann@a.test"), ["virtual:bob@b.test"]);
    assert_eq!(resolve(&db, "y@a.test"), ["virtual:bob@b.test"]);
    // The backslash goes straight to the mailbox, past ann's own alias.
    assert_eq!(resolve(&db, "x@a.test"), ["virtual:ann@a.test"]);
    assert_eq!(
        db.resolve("z@a.test"),
        Err(ResolveError::UnknownUser("nobody@a.test".into()))
    );
}

#[test]
fn unix_accounts_in_resolution() {
    let s = Setup::new(
        USERS,
        "postmaster: alice\nroot: root, alice\nalice: alice, joe@a.test\n",
    );
    let passwd = s.file(
        "etc-passwd",
        "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:Alice:/home/alice:/bin/bash\nnobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\n",
    );
    let shadow = s.file("etc-shadow", "alice:!:19000:0:99999:7:::\n");
    let mut config = s.config();
    config.unix_accounts = Some(UnixAccountsConfig {
        passwd_file: passwd,
        shadow_file: shadow,
        ..UnixAccountsConfig::default()
    });
    let db = UserDb::open(config).unwrap();
    // alice's alias names alice: the Unix account underneath gets it.
    assert_eq!(
        resolve(&db, "alice@a.test"),
        ["unix:alice", "virtual:joe@a.test"]
    );
    assert_eq!(resolve(&db, "ALICE"), ["unix:alice", "virtual:joe@a.test"]);
    assert_eq!(
        resolve(&db, "postmaster@b.test"),
        ["unix:alice", "virtual:joe@a.test"]
    );
    // uid 0 and 65534 are outside the default range; root's self-reference
    // then has no underlying account, so only alice's expansion remains (and
    // root@a.test is a virtual user, which wins before the bare alias).
    assert_eq!(
        resolve(&db, "root@b.test"),
        ["unix:alice", "virtual:joe@a.test"]
    );
    let d = db.resolve_detailed("root@b.test").unwrap();
    assert_eq!(d.failures.len(), 1, "{d:?}");
    assert_eq!(resolve(&db, "root@a.test"), ["virtual:root@a.test"]);
    assert!(db.resolve("nobody@a.test").is_err());
    match &db.resolve("alice@b.test").unwrap()[0] {
        Destination::Unix(u) => {
            assert_eq!((u.uid, u.gid), (1000, 1000));
            assert_eq!(u.home, Path::new("/home/alice"));
        }
        other => panic!("{other:?}"),
    }
}
