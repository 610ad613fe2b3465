use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("/etc/ferrymail/test.toml"))
}

/// The keys of the problems validation finds in `text`, in order.
fn problem_keys(text: &str) -> Vec<String> {
    match parse(text) {
        Err(ConfigError::Invalid { problems, .. }) => problems.into_iter().map(|p| p.key).collect(),
        other => panic!("not refused as invalid: {other:?}"),
    }
}

#[test]
fn empty_file_gives_documented_defaults() {
    let c = parse("").unwrap();
    assert_eq!(c, Config::default());
    assert_eq!(c.smtpd.max_recipients, 100);
    assert_eq!(c.smtpd.max_command_line, 512);
    assert_eq!(c.smtpd.listeners.len(), 3);
    assert_eq!(c.queue.max_lifetime, Duration::from_secs(5 * 86400));
    assert!(c.validate().is_empty());
}

#[test]
fn example_config_in_deploy_parses_and_equals_defaults_where_uncommented() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/ferrymail.toml");
    let c = Config::load(&path).unwrap();
    // The example sets these two; everything else is commented out and must be the default.
    assert_eq!(c.general.hostname, "mail.example.org");
    assert_eq!(c.general.local_domains, vec!["example.org".to_string()]);
    let mut expected = Config::default();
    expected.general.hostname = c.general.hostname.clone();
    expected.general.local_domains = c.general.local_domains.clone();
    assert_eq!(c, expected);
}

#[test]
fn example_config_documents_every_default_key() {
    // Uncommenting every `#key = value` line in the example must still parse and give the
    // defaults: the example documents the real keys with their real default values.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/ferrymail.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let uncommented: String = text
        .lines()
        .map(|l| match l.strip_prefix('#') {
            Some(rest) if rest.starts_with(|c: char| c.is_ascii_lowercase()) => rest,
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let c = parse(&uncommented).unwrap_or_else(|e| panic!("{e}\n{uncommented}"));
    let mut expected = Config::default();
    expected.general.hostname = "mail.example.org".into();
    expected.general.local_domains = vec!["example.org".into()];
    assert_eq!(c, expected);
}

#[test]
fn unknown_key_is_rejected_with_file_line_and_key() {
    let err = parse("[general]\nhostname = \"a.test\"\nhostnme = \"b\"\n").unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("/etc/ferrymail/test.toml"), "{msg}");
    assert!(msg.contains("line 3"), "{msg}");
    assert!(msg.contains("hostnme"), "{msg}");
    assert!(msg.contains("[general]"), "{msg}");
}

#[test]
fn unknown_section_is_rejected() {
    let msg = parse("[smtp]\nuser = \"x\"\n").unwrap_err().to_string();
    assert!(msg.contains("smtp"), "{msg}");
    assert!(msg.contains("line 1"), "{msg}");
}

#[test]
fn wrong_type_is_rejected() {
    let msg = parse("[smtpd]\nmax_recipients = \"many\"\n")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("line 2"), "{msg}");
}

#[test]
fn bad_duration_and_address_are_rejected() {
    assert!(parse("[queue]\nretry_initial = \"soon\"\n").is_err());
    assert!(parse("[[smtpd.listeners]]\nrole = \"mx\"\nlisten = \"nowhere\"\n").is_err());
    assert!(parse("[[smtpd.listeners]]\nrole = \"fax\"\nlisten = \"127.0.0.1:25\"\n").is_err());
}

#[test]
fn semantic_problems_are_all_reported_with_keys() {
    let err = parse(
        "[general]\nhostname = \"bad host\"\nlocal_domains = [\"ok.test\", \"a..b\"]\n\
         [smtpd]\nmax_command_line = 100\n\
         [[smtpd.listeners]]\nrole = \"imap\"\nlisten = \"127.0.0.1:25\"\n\
         [paths]\nspool_dir = \"relative/spool\"\n",
    )
    .unwrap_err();
    let ConfigError::Invalid { problems, .. } = &err else {
        panic!("expected Invalid, got {err}");
    };
    let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
    assert!(keys.contains(&"general.hostname"), "{keys:?}");
    assert!(keys.contains(&"general.local_domains[1]"), "{keys:?}");
    assert!(keys.contains(&"smtpd.max_command_line"), "{keys:?}");
    assert!(keys.contains(&"smtpd.listeners[0].role"), "{keys:?}");
    assert!(keys.contains(&"paths.spool_dir"), "{keys:?}");
}

#[test]
fn duplicate_listen_addresses_are_rejected() {
    let err = parse(
        "[[pop3d.listeners]]\nrole = \"pop3\"\nlisten = \"127.0.0.1:110\"\n\
         [[pop3d.listeners]]\nrole = \"pop3s\"\nlisten = \"127.0.0.1:110\"\n",
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("pop3d.listeners[1].listen"),
        "{err}"
    );
}

#[test]
fn domains_are_normalised() {
    let c = parse("[general]\nlocal_domains = [\"Example.ORG.\"]\n").unwrap();
    assert_eq!(c.general.local_domains, vec!["example.org".to_string()]);
}

#[test]
fn trusted_networks_include_mapped_ipv4() {
    let c = Config::default();
    assert!(c.is_trusted("127.0.0.1".parse().unwrap()));
    assert!(c.is_trusted("::ffff:127.0.0.2".parse().unwrap()));
    assert!(c.is_trusted("::1".parse().unwrap()));
    assert!(!c.is_trusted("192.0.2.1".parse().unwrap()));
}

#[test]
fn socket_paths_resolve_under_run_dir() {
    let mut c = Config::default();
    c.paths.run_dir = "/run/fm".into();
    assert_eq!(c.lmtp_socket(), PathBuf::from("/run/fm/lmtp.sock"));
    c.delivery.lmtp_socket = "/tmp/x.sock".into();
    assert_eq!(c.lmtp_socket(), PathBuf::from("/tmp/x.sock"));
}

#[test]
fn defaults_round_trip_through_toml() {
    let text = Config::defaults_toml();
    assert_eq!(parse(&text).unwrap(), Config::default());
}

#[test]
fn missing_file_names_the_file() {
    let err = Config::load(Path::new("/nonexistent/ferrymail.toml")).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/ferrymail.toml"));
}

#[test]
fn domain_syntax() {
    assert!(is_domain("a.test"));
    assert!(is_domain("mail-1.example.org."));
    assert!(!is_domain(""));
    assert!(!is_domain("-a.test"));
    assert!(!is_domain("a..test"));
    assert!(!is_domain("a b.test"));
    assert!(!is_domain(&"a".repeat(64)));
}

#[test]
fn log_filter_syntax() {
    assert!(!tracing_level_is_bad("info"));
    assert!(!tracing_level_is_bad("imapd=debug,info"));
    assert!(tracing_level_is_bad(""));
    assert!(tracing_level_is_bad("imapd=loud"));
}

#[test]
fn dkim_and_mailauth_are_validated_and_keys_resolved() {
    let err = parse(
        "[dkim]\nselector = \"bad selector\"\nkeys_dir = \"rel\"\nheaders = [\"Subject\"]\n\
         oversign = [\"X:Y\"]\n[mailauth]\nauthserv_id = \"a b\"\ndns_timeout = \"0s\"\n",
    )
    .unwrap_err()
    .to_string();
    for key in [
        "dkim.selector",
        "dkim.keys_dir",
        "dkim.headers",
        "dkim.oversign[0]",
        "mailauth.authserv_id",
        "mailauth.dns_timeout",
    ] {
        assert!(err.contains(&format!("`{key}`")), "{key} missing in {err}");
    }
    let c = parse(
        "[general]\nlocal_domains = [\"A.test\"]\n[dkim]\nenabled = true\n\
         [[dkim.domains]]\ndomain = \"B.test.\"\nselector = \"s2\"\n\
         [[dkim.domains]]\ndomain = \"c.test\"\nkey = \"/k/c.pem\"\n",
    )
    .unwrap();
    assert_eq!(
        c.dkim_keys(),
        vec![
            (
                "b.test".into(),
                "s2".into(),
                PathBuf::from("/etc/ferrymail/dkim/b.test.s2.key")
            ),
            (
                "c.test".into(),
                "ferrymail".into(),
                PathBuf::from("/k/c.pem")
            ),
        ]
    );
    let c = parse("[general]\nlocal_domains = [\"a.test\"]\nhostname = \"mx.a.test\"\n").unwrap();
    assert_eq!(
        c.dkim_keys(),
        vec![(
            "a.test".into(),
            "ferrymail".into(),
            PathBuf::from("/etc/ferrymail/dkim/a.test.ferrymail.key")
        )]
    );
    assert_eq!(c.authserv_id(), "mx.a.test");
    assert!(parse("[dkim]\nenabled = true\n")
        .unwrap_err()
        .to_string()
        .contains("dkim.domains"));
}

#[test]
fn metrics_listeners_are_off_by_default_and_must_not_share_an_address() {
    let c = parse("").unwrap();
    assert_eq!(c.smtpd.metrics_listen, None);
    assert_eq!(c.imapd.metrics_listen, None);
    let c = parse(
        "[smtpd]\nmetrics_listen = \"127.0.0.1:9101\"\n\
         [queue]\nmetrics_listen = \"127.0.0.1:9102\"\n",
    )
    .unwrap();
    assert_eq!(
        c.smtpd.metrics_listen,
        Some("127.0.0.1:9101".parse().unwrap())
    );
    assert!(c.validate().is_empty(), "{:?}", c.validate());
    // Kept through a round trip (mailctl writes configs back).
    assert_eq!(parse(&c.to_toml().unwrap()).unwrap(), c);

    let err = parse(
        "[smtpd]\nmetrics_listen = \"127.0.0.1:9101\"\n\
         [pop3d]\nmetrics_listen = \"127.0.0.1:9101\"\n\
         [imapd]\nmetrics_listen = \"[::]:143\"\n\
         [metrics]\nmax_connections = 0\n",
    );
    let Err(ConfigError::Invalid { problems, .. }) = err else {
        panic!("accepted: {err:?}");
    };
    let keys: Vec<String> = problems.into_iter().map(|p| p.key).collect();
    assert!(
        keys.contains(&"smtpd.metrics_listen".to_string()),
        "{keys:?}"
    );
    assert!(
        keys.contains(&"imapd.metrics_listen".to_string()),
        "{keys:?}"
    );
    assert!(
        keys.contains(&"metrics.max_connections".to_string()),
        "{keys:?}"
    );
}

#[test]
fn rate_limits_default_generous_and_take_per_login_overrides() {
    let c = parse("").unwrap();
    assert_eq!(c.smtpd.rate.user_messages_per_hour, 1000);
    assert_eq!(c.smtpd.rate.address_recipients_per_hour, 6000);
    let c = parse(
        "[smtpd.rate]\nuser_messages_per_hour = 5\n\
         [smtpd.rate.user_overrides]\n\"Bulk@example.org\" = { recipients_per_hour = 0 }\n",
    )
    .unwrap();
    assert_eq!(c.smtpd.rate.user_messages_per_hour, 5);
    let o = c.smtpd.rate.user_overrides["Bulk@example.org"];
    assert_eq!(
        (o.messages_per_hour, o.recipients_per_hour),
        (None, Some(0))
    );
    assert!(c.validate().is_empty());
    let err = parse("[smtpd.rate.user_overrides]\n\"a@b\" = { messages = 1 }\n").unwrap_err();
    assert!(err.to_string().contains("messages"), "{err}");
    let keys = problem_keys(
        "[smtpd.rate]\nmax_tracked_keys = 0\n[smtpd.rate.user_overrides]\n\"a b\" = {}\n",
    );
    assert_eq!(
        keys,
        ["smtpd.rate.max_tracked_keys", "smtpd.rate.user_overrides"]
    );
}

#[test]
fn spam_verdict_keys_default_to_junk_and_are_checked() {
    let c = parse("").unwrap();
    assert_eq!(c.delivery.spam_folder, "Junk");
    assert_eq!(c.delivery.spam_headers, ["X-Spam: Yes", "X-Spam-Flag: YES"]);
    assert!(parse("[delivery]\nspam_folder = \"\"\nspam_headers = []\n").is_ok());
    assert_eq!(
        parse_spam_header("  X-Spam-Flag :  YES "),
        Some(("X-Spam-Flag", "YES"))
    );
    let keys = problem_keys(
        "[delivery]\nspam_folder = \"../Junk\"\nspam_headers = [\"X-Spam\", \"X-Spam:\", \"Bad Name: x\"]\n",
    );
    assert_eq!(
        keys,
        [
            "delivery.spam_folder",
            "delivery.spam_headers[0]",
            "delivery.spam_headers[1]",
            "delivery.spam_headers[2]"
        ]
    );
    for folder in ["INBOX", "inbox", "/abs", "Junk/../x"] {
        let text = format!("[delivery]\nspam_folder = \"{folder}\"\n");
        assert_eq!(problem_keys(&text), ["delivery.spam_folder"], "{folder}");
    }
    assert!(parse("[delivery]\nspam_folder = \"Spam/Caught\"\n").is_ok());
}

#[test]
fn tls_rpt_is_off_by_default_and_its_sender_is_checked() {
    let c = parse("").unwrap();
    let t = &c.queue.tls_rpt;
    assert!(!t.enabled);
    assert_eq!(t.sender("mx.a.test"), "noreply-tlsrpt@mx.a.test");
    assert_eq!(t.contact("mx.a.test"), "postmaster@mx.a.test");
    assert_eq!(t.organization("mx.a.test"), "mx.a.test");
    let c = parse(
        "[queue.tls_rpt]\nenabled = true\nsender = \"tls@a.test\"\nsend_delay_max = \"10m\"\n",
    )
    .unwrap();
    assert_eq!(c.queue.tls_rpt.sender("h"), "tls@a.test");
    assert_eq!(c.queue.tls_rpt.send_delay_max, Duration::from_secs(600));
    for bad in ["nobody", "a b@a.test", "x@", "x@a.test>\r\nBcc: y"] {
        let text = format!("[queue.tls_rpt]\nsender = {bad:?}\n");
        assert_eq!(problem_keys(&text), ["queue.tls_rpt.sender"], "{bad}");
    }
}

#[test]
fn tls_policies_parse_with_postfix_names() {
    let c = parse(
        "[queue]\ntls_policy = \"opportunistic\"\n[queue.tls_policies]\n\"bank.test\" = \"dane-only\"\n\"old.test\" = \"none\"\n",
    )
    .unwrap();
    assert_eq!(c.queue.tls_policy, TlsPolicy::May);
    assert_eq!(c.queue.tls_policies["bank.test"], TlsPolicy::DaneOnly);
    assert_eq!(c.queue.tls_policies["old.test"], TlsPolicy::None);
    assert_eq!(Config::default().queue.tls_policy, TlsPolicy::Dane);
    for level in ["may", "encrypt", "dane", "verify"] {
        let c = parse(&format!("[queue]\ntls_policy = \"{level}\"\n")).unwrap();
        assert_eq!(c.queue.tls_policy.as_str(), level);
    }
    assert!(parse("[queue]\ntls_policy = \"secure\"\n").is_err());
}

#[test]
fn cluster_connections_need_the_cluster_secret() {
    let peers = "[delivery]\nlmtp_listen = [\"127.0.0.1:24\"]\n\
                 [queue]\nlmtp_server = { address = \"10.77.0.30:24\", tls_name = \"front.cluster.test\" }\n\
                 handoff_relay = { address = \"10.77.0.32:25\", tls_name = \"mx2.cluster.test\" }\n";
    assert_eq!(
        problem_keys(peers),
        vec![
            "delivery.lmtp_listen",
            "queue.lmtp_server",
            "queue.handoff_relay"
        ]
    );
    let c = parse(&format!(
        "{peers}[cluster]\nsecret_file = \"/etc/ferrymail/cluster-secret\"\ntrust_anchors = [\"/etc/ferrymail/cluster-ca.pem\"]\n"
    ))
    .unwrap();
    assert_eq!(
        c.delivery.lmtp_listen,
        vec!["127.0.0.1:24".parse().unwrap()]
    );
    let server = c.queue.lmtp_server.unwrap();
    assert_eq!(
        (server.address, server.tls_name.as_str()),
        ("10.77.0.30:24".parse().unwrap(), "front.cluster.test")
    );
}
