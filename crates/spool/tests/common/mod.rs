#![allow(dead_code)]

use std::fs;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use ferrymail_spool::*;

pub fn envelope() -> Envelope {
    let mut e = Envelope::new(
        Some("sender@example.org".into()),
        vec![
            Recipient::new("one@example.net"),
            Recipient {
                address: "two@example.net".into(),
                orcpt: Some("rfc822;two@example.net".into()),
                notify: Notify {
                    failure: true,
                    delay: true,
                    ..Notify::default()
                },
                status: RecipientStatus::Pending,
            },
        ],
        ClientInfo {
            addr: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))),
            helo: Some("mx.example.org".into()),
            ptr: Some("mx.example.org".into()),
            auth_user: None,
            tls: Some("TLSv1.3".into()),
            protocol: "ESMTPS".into(),
        },
        Source::Smtp { role: "mx".into() },
    );
    e.body = BodyType::BinaryMime;
    e.dsn = DsnParams {
        ret: Some(Ret::Full),
        envid: Some("QQ314159".into()),
    };
    e
}

/// Every byte value, CR/LF variants and NULs: the spool must store bytes, not lines.
pub fn binary_message(len: usize) -> Vec<u8> {
    let mut m =
        b"From: a@example.org\r\nSubject: =?utf-8?q?h=C3=A9?=\r\n\r\n\xe2\x82\xac\n\r\0".to_vec();
    m.extend((0..len).map(|i| (i * 7 + i / 256) as u8));
    m
}

pub fn read_message(spool: &Spool, id: &QueueId) -> Vec<u8> {
    let mut v = Vec::new();
    spool.open_message(id).unwrap().read_to_end(&mut v).unwrap();
    v
}

pub fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

pub fn spool() -> (tempfile::TempDir, Spool) {
    let root = tempfile::tempdir().unwrap();
    let spool = Spool::create_layout(root.path().join("spool")).unwrap();
    (root, spool)
}
