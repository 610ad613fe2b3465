//! Fetching a policy: `GET https://mta-sts.<domain>/.well-known/mta-sts.txt` (RFC 8461 §3.3).
//!
//! A deliberately minimal HTTP/1.0 client rather than hyper: the exchange is one request on
//! one connection, with no redirects to follow (the RFC forbids them), no keep-alive and a
//! small bounded body; an HTTP/1.0 request also rules out chunked responses. Pulling in
//! hyper and its client stack for that would add more code than it replaces. The response
//! is parsed by [`parse_response`], which is sans-IO; [`fetch`] only moves bytes.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use ferrymail_net::dns::TokioResolver;

/// Longest response head (status line and headers) accepted.
const MAX_HEAD: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("policy host {0}: no address")]
    NoAddress(String),
    #[error("policy host {0}: address lookup failed: {1}")]
    Dns(String, String),
    #[error("policy host {0}: {1}")]
    Io(String, String),
    #[error("policy host {0}: TLS: {1}")]
    Tls(String, String),
    #[error("policy fetch timed out")]
    Timeout,
    #[error("malformed HTTP response: {0}")]
    Malformed(&'static str),
    #[error("HTTP status {0} (only 200 is a policy)")]
    Status(u16),
    #[error("Content-Type is not text/plain")]
    ContentType,
    #[error("response body larger than {0} bytes")]
    TooLarge(usize),
}

/// The policy host of a domain (§3.3).
pub fn policy_host(domain: &str) -> String {
    format!("mta-sts.{}", domain.trim_end_matches('.'))
}

/// The request sent for `host`.
pub fn request(host: &str) -> String {
    format!(
        "GET /.well-known/mta-sts.txt HTTP/1.0\r\nHost: {host}\r\nUser-Agent: ferrymail\r\n\
         Accept: text/plain\r\nConnection: close\r\n\r\n"
    )
}

/// The policy body of a complete response (read to the end of the connection): status 200
/// (anything else, redirects included, is no policy), `Content-Type: text/plain` with any
/// parameters, no transfer coding, body within `max_body` and `Content-Length` if given.
pub fn parse_response(resp: &[u8], max_body: usize) -> Result<&[u8], FetchError> {
    let end = find(resp, b"\r\n\r\n")
        .map(|i| (i, i + 4))
        .or_else(|| find(resp, b"\n\n").map(|i| (i, i + 2)));
    let (head_end, body_start) = end.ok_or(FetchError::Malformed("no end of headers"))?;
    let head = std::str::from_utf8(&resp[..head_end])
        .map_err(|_| FetchError::Malformed("headers not text"))?;
    let mut lines = head.lines();
    let status = lines.next().unwrap_or("");
    let mut parts = status.split(' ');
    let (version, code) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if !version.starts_with("HTTP/1.") {
        return Err(FetchError::Malformed("bad status line"));
    }
    let code: u16 = code
        .parse()
        .map_err(|_| FetchError::Malformed("bad status code"))?;
    if code != 200 {
        return Err(FetchError::Status(code));
    }
    let (mut text_plain, mut length) = (false, None);
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or(FetchError::Malformed("header without colon"))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-type") {
            let media = value.split(';').next().unwrap_or("").trim();
            text_plain = media.eq_ignore_ascii_case("text/plain");
        } else if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| FetchError::Malformed("bad Content-Length"))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(FetchError::Malformed(
                "transfer coding in an HTTP/1.0 answer",
            ));
        }
    }
    if !text_plain {
        return Err(FetchError::ContentType);
    }
    let body = &resp[body_start..];
    if body.len() > max_body || length.is_some_and(|l| l > max_body) {
        return Err(FetchError::TooLarge(max_body));
    }
    match length {
        Some(l) if l > body.len() => Err(FetchError::Malformed("body shorter than Content-Length")),
        Some(l) => Ok(&body[..l]),
        None => Ok(body),
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Fetches the policy body of `domain` within `limit`, the certificate checked by
/// `connector` for the policy host name.
pub async fn fetch(
    resolver: &TokioResolver,
    connector: &TlsConnector,
    domain: &str,
    port: u16,
    limit: Duration,
    max_body: usize,
) -> Result<Vec<u8>, FetchError> {
    match tokio::time::timeout(
        limit,
        fetch_inner(resolver, connector, domain, port, max_body),
    )
    .await
    {
        Ok(r) => r,
        Err(_) => Err(FetchError::Timeout),
    }
}

async fn fetch_inner(
    resolver: &TokioResolver,
    connector: &TlsConnector,
    domain: &str,
    port: u16,
    max_body: usize,
) -> Result<Vec<u8>, FetchError> {
    let host = policy_host(domain);
    let addrs: Vec<IpAddr> = match resolver.lookup_ip(format!("{host}.")).await {
        Ok(l) => l.iter().collect(),
        Err(e) if e.is_nx_domain() || e.is_no_records_found() => Vec::new(),
        Err(e) => return Err(FetchError::Dns(host, e.to_string())),
    };
    let io = |e: std::io::Error| FetchError::Io(host.clone(), e.to_string());
    let mut last = FetchError::NoAddress(host.clone());
    for ip in addrs {
        let tcp = match TcpStream::connect(SocketAddr::new(ip, port)).await {
            Ok(t) => t,
            Err(e) => {
                last = io(e);
                continue;
            }
        };
        let name = ServerName::try_from(host.clone())
            .map_err(|e| FetchError::Tls(host.clone(), e.to_string()))?;
        let mut tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| FetchError::Tls(host.clone(), e.to_string()))?;
        tls.write_all(request(&host).as_bytes()).await.map_err(io)?;
        tls.flush().await.map_err(io)?;
        let mut resp = Vec::new();
        // One byte past the bound tells a too-large answer from one that just fits.
        let cap = (MAX_HEAD + max_body + 1) as u64;
        let read = (&mut tls).take(cap).read_to_end(&mut resp).await;
        // A server that closes without TLS close_notify has still sent its whole answer
        // when the body is complete; parse_response checks Content-Length when given.
        if let Err(e) = read {
            if e.kind() != std::io::ErrorKind::UnexpectedEof {
                return Err(io(e));
            }
        }
        return parse_response(&resp, max_body).map(<[u8]>::to_vec);
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n\
        Content-Length: 5\r\n\r\nhello";

    #[test]
    fn accepts_a_plain_200() {
        assert_eq!(parse_response(OK, 100), Ok(&b"hello"[..]));
        let no_len = b"HTTP/1.0 200 OK\nCONTENT-TYPE: Text/Plain\n\nbody\n";
        assert_eq!(parse_response(no_len, 100), Ok(&b"body\n"[..]));
    }

    #[test]
    fn refuses_what_is_not_a_policy() {
        let redirect =
            b"HTTP/1.1 301 Moved\r\nLocation: https://x/\r\nContent-Type: text/plain\r\n\r\n";
        assert_eq!(parse_response(redirect, 100), Err(FetchError::Status(301)));
        let html = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\nx";
        assert_eq!(parse_response(html, 100), Err(FetchError::ContentType));
        let none = b"HTTP/1.1 200 OK\r\n\r\nx";
        assert_eq!(parse_response(none, 100), Err(FetchError::ContentType));
        assert_eq!(parse_response(OK, 4), Err(FetchError::TooLarge(4)));
        let big_len = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 99\r\n\r\nx";
        assert_eq!(parse_response(big_len, 10), Err(FetchError::TooLarge(10)));
        let short = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nx";
        assert!(matches!(
            parse_response(short, 10),
            Err(FetchError::Malformed(_))
        ));
        let chunked =
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx";
        assert!(matches!(
            parse_response(chunked, 10),
            Err(FetchError::Malformed(_))
        ));
        assert!(matches!(
            parse_response(b"HTTP/1.1 200 OK\r\n", 10),
            Err(FetchError::Malformed(_))
        ));
        assert!(matches!(
            parse_response(b"SMTP 200\r\n\r\n", 10),
            Err(FetchError::Malformed(_))
        ));
    }

    #[test]
    fn names_the_policy_host() {
        assert_eq!(policy_host("example.com."), "mta-sts.example.com");
        assert!(request("mta-sts.example.com").contains("\r\nHost: mta-sts.example.com\r\n"));
    }
}
