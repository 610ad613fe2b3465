//! A daemon's `/metrics` as a test sees it: fetched over plain HTTP like a Prometheus server
//! would, and read with an independent parser of the text format (`prometheus-parse`), never
//! with the code that wrote it.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use ferrymail_config::Config;
use prometheus_parse::{Sample, Value};

use crate::wait::free_port;

/// Turns on `daemon`'s metrics listener on a free loopback port and returns its address.
/// `daemon` is a program name (`mta-smtpd`, `queue-runner`, `local-delivery`, `imapd`, `pop3d`,
/// `proxyd`).
pub fn enable(config: &mut Config, daemon: &str) -> SocketAddr {
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let addr = SocketAddr::new(ip, free_port(ip));
    let key = match daemon {
        "mta-smtpd" => &mut config.smtpd.metrics_listen,
        "queue-runner" => &mut config.queue.metrics_listen,
        "local-delivery" => &mut config.delivery.metrics_listen,
        "imapd" => &mut config.imapd.metrics_listen,
        "pop3d" => &mut config.pop3d.metrics_listen,
        "proxyd" => &mut config.proxy.metrics_listen,
        other => panic!("{other} has no metrics listener"),
    };
    *key = Some(addr);
    addr
}

/// One scrape, parsed.
pub struct Scrape {
    samples: Vec<Sample>,
    pub text: String,
}

impl Scrape {
    /// `GET /metrics` at `addr`; panics unless it is a 200 in the text format 0.0.4.
    pub fn fetch(addr: SocketAddr) -> Scrape {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("connect to metrics at {addr}: {e}"));
        let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\nAccept: text/plain\r\n\r\n")
            .unwrap_or_else(|e| panic!("send to {addr}: {e}"));
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)
            .unwrap_or_else(|e| panic!("read from {addr}: {e}"));
        let raw = String::from_utf8(raw).unwrap_or_else(|e| panic!("not UTF-8: {e}"));
        let (head, body) = raw
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no HTTP head: {raw}"));
        assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: text/plain; version=0.0.4"),
            "{head}"
        );
        let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned())))
            .unwrap_or_else(|e| panic!("unparsable exposition: {e}\n{body}"));
        Scrape {
            samples: scrape.samples,
            text: body.to_owned(),
        }
    }

    fn find(&self, name: &str, labels: &[(&str, &str)]) -> Option<&Sample> {
        self.samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
    }

    /// The value of the counter or gauge `name` whose labels include `labels`, if exposed.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        match self.find(name, labels).map(|s| &s.value) {
            Some(Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v)) => Some(*v),
            _ => None,
        }
    }

    /// Like [`Scrape::get`], panicking when the series is not exposed (every series a test
    /// asks for must be).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels)
            .unwrap_or_else(|| panic!("{name}{labels:?} not exposed\n{}", self.text))
    }

    /// Asserts that series `name` with `labels` is exposed with value `expected`; the
    /// failure shows the whole scrape.
    #[track_caller]
    pub fn expect(&self, name: &str, labels: &[(&str, &str)], expected: f64) {
        let got = self.value(name, labels);
        assert!(
            got == expected,
            "{name}{labels:?} is {got}, not {expected}\n{}",
            self.text
        );
    }

    /// Observations in the histogram `name` whose labels include `labels` (its `+Inf`
    /// bucket); panics when there is no such histogram.
    pub fn histogram_count(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        match self.find(name, labels).map(|s| &s.value) {
            Some(Value::Histogram(buckets)) => buckets
                .iter()
                .find(|b| b.less_than.is_infinite())
                .map(|b| b.count)
                .unwrap_or_else(|| panic!("{name}: no +Inf bucket\n{}", self.text)),
            other => panic!("{name}{labels:?}: {other:?}\n{}", self.text),
        }
    }

    /// Disk flushes of `kind` (`file` or `dir`) so far.
    pub fn flushes_of(&self, kind: &str) -> f64 {
        self.value("ferrymail_disk_flushes_total", &[("kind", kind)])
    }

    /// Asserts that at least `at_least` flushes of `kind` happened between `earlier` and this
    /// scrape.
    #[track_caller]
    pub fn expect_flushes_since(&self, earlier: &Scrape, kind: &str, at_least: f64) {
        let (from, to) = (earlier.flushes_of(kind), self.flushes_of(kind));
        assert!(
            to >= from + at_least,
            "{kind} flushes went from {from} to {to}, expected at least {at_least} more"
        );
    }

    /// Disk flushes of both kinds so far.
    pub fn flushes(&self) -> f64 {
        self.flushes_of("file") + self.flushes_of("dir")
    }
}
