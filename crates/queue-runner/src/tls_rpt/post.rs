//! Delivery of a report to an `https:` address (RFC 8460 §5.4): the gzipped JSON POSTed as
//! `application/tlsrpt+gzip`; any 2xx answer is success. Request building and URI parsing
//! are sans-IO; [`post`] moves the bytes over [`ferrymail_net::https`].

use std::time::Duration;

use tokio_rustls::TlsConnector;

use ferrymail_net::dns::TokioResolver;

/// Longest answer read (only its status line matters).
const MAX_ANSWER: usize = 16 * 1024;

/// The parts of an `https://host[:port][/path]` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub path: String,
}

/// `None` for anything but a plain `https://` URI with a DNS host name (no user info, no
/// IP literal, no fragment).
pub fn parse_uri(uri: &str) -> Option<Target> {
    let rest = uri
        .get(..8)
        .filter(|s| s.eq_ignore_ascii_case("https://"))
        .and_then(|_| uri.get(8..))?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_owned()
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().ok()?),
        None => (authority, 443),
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    let path_ok = path.bytes().all(|b| b.is_ascii_graphic()) && !path.contains('#');
    (host_ok && path_ok).then(|| Target {
        host: host.to_ascii_lowercase(),
        port,
        path,
    })
}

/// The POST request carrying `gz`.
pub fn request(t: &Target, gz: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST {} HTTP/1.0\r\nHost: {}\r\nUser-Agent: ferrymail\r\n\
         Content-Type: application/tlsrpt+gzip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        t.path,
        t.host,
        gz.len()
    )
    .into_bytes();
    r.extend_from_slice(gz);
    r
}

/// POSTs `gz` to `uri`; the error says why it did not take.
pub async fn post(
    resolver: &TokioResolver,
    connector: &TlsConnector,
    uri: &str,
    gz: &[u8],
    limit: Duration,
) -> Result<(), String> {
    let t = parse_uri(uri).ok_or_else(|| format!("unusable URI {uri}"))?;
    let answer = ferrymail_net::https::exchange(
        resolver,
        connector,
        &t.host,
        t.port,
        &request(&t, gz),
        MAX_ANSWER,
        limit,
    )
    .await
    .map_err(|e| e.to_string())?;
    match ferrymail_net::https::status(&answer) {
        Some(code) if (200..300).contains(&code) => Ok(()),
        Some(code) => Err(format!("HTTP status {code}")),
        None => Err("malformed HTTP answer".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_https_uris() {
        let t = |host: &str, port, path: &str| {
            Some(Target {
                host: host.into(),
                port,
                path: path.into(),
            })
        };
        assert_eq!(
            parse_uri("https://Reports.A.test/v1/tlsrpt"),
            t("reports.a.test", 443, "/v1/tlsrpt")
        );
        assert_eq!(parse_uri("HTTPS://r.test:8443"), t("r.test", 8443, "/"));
        assert_eq!(parse_uri("https://r.test?x=1"), t("r.test", 443, "/?x=1"));
        for bad in [
            "http://r.test/",
            "https://",
            "https://u@r.test/",
            "https://r.test:x/",
            "https://[::1]/",
            "https://r.test/a b",
            "https://r.test/#f",
        ] {
            assert_eq!(parse_uri(bad), None, "{bad}");
        }
    }

    #[test]
    fn builds_the_post() {
        let t = parse_uri("https://r.test/in").unwrap();
        let r = request(&t, b"\x1f\x8bxyz");
        let text = String::from_utf8_lossy(&r);
        assert!(
            text.starts_with("POST /in HTTP/1.0\r\nHost: r.test\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nContent-Type: application/tlsrpt+gzip\r\n"));
        assert!(text.contains("\r\nContent-Length: 5\r\n"));
        assert!(r.ends_with(b"\r\n\r\n\x1f\x8bxyz"));
    }
}
