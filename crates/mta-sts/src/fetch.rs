//! Fetching a policy: `GET https://mta-sts.<domain>/.well-known/mta-sts.txt` (RFC 8461 §3.3).
//!
//! One request over [`ferrymail_net::https`] (no redirects to follow: the RFC forbids them); an
//! HTTP/1.0 request also rules out chunked responses. The response is parsed by
//! [`parse_response`], which is sans-IO.

use std::time::Duration;

use tokio_rustls::TlsConnector;

use ferrymail_net::dns::TokioResolver;
use ferrymail_net::https::HttpsError;

/// Longest response head (status line and headers) accepted.
const MAX_HEAD: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("policy host {0}")]
    Https(#[from] HttpsError),
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
    lines.next();
    let code = ferrymail_net::https::status(head.as_bytes())
        .ok_or(FetchError::Malformed("bad status line"))?;
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
    let host = policy_host(domain);
    // One byte past the bound tells a too-large answer from one that just fits.
    let resp = ferrymail_net::https::exchange(
        resolver,
        connector,
        &host,
        port,
        request(&host).as_bytes(),
        MAX_HEAD + max_body + 1,
        limit,
    )
    .await?;
    parse_response(&resp, max_body).map(<[u8]>::to_vec)
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
