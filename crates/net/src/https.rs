//! A deliberately minimal HTTPS client: one HTTP/1.0 request on one connection, the whole
//! answer read until the server closes, within a byte bound and a time limit. It serves the
//! HTTPS exchanges ferrymail has, fetching MTA-STS policies (`ferrymail_mta_sts::fetch`,
//! for queue-runner and `mailctl check`) and posting TLS-RPT reports (queue-runner); none
//! follows redirects or keeps a connection, so hyper's client stack would add more code than
//! it replaces. Callers build the request and parse the answer, sans-IO; this only moves
//! bytes.

use std::net::SocketAddr;
use std::time::Duration;

use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use std::net::IpAddr;

use crate::dns::TokioResolver;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpsError {
    #[error("{0}: no address")]
    NoAddress(String),
    #[error("{0}: address lookup failed: {1}")]
    Dns(String, String),
    #[error("{0}: {1}")]
    Io(String, String),
    #[error("{0}: TLS: {1}")]
    Tls(String, String),
    #[error("timed out")]
    Timeout,
}

/// Sends `request` to `host`:`port` over TLS (the certificate checked by `connector` for
/// `host`) and returns the answer, at most `max_response` bytes of it, all within `limit`.
pub async fn exchange(
    resolver: &TokioResolver,
    connector: &TlsConnector,
    host: &str,
    port: u16,
    request: &[u8],
    max_response: usize,
    limit: Duration,
) -> Result<Vec<u8>, HttpsError> {
    tokio::time::timeout(limit, async {
        let host = host.to_owned();
        let addrs: Vec<IpAddr> = match resolver.lookup_ip(format!("{host}.")).await {
            Ok(l) => l.iter().collect(),
            Err(e) if e.is_nx_domain() || e.is_no_records_found() => Vec::new(),
            Err(e) => return Err(HttpsError::Dns(host, e.to_string())),
        };
        let io = |e: std::io::Error| HttpsError::Io(host.clone(), e.to_string());
        let mut last = HttpsError::NoAddress(host.clone());
        for ip in addrs {
            let tcp = match TcpStream::connect(SocketAddr::new(ip, port)).await {
                Ok(t) => t,
                Err(e) => {
                    last = io(e);
                    continue;
                }
            };
            let name = ServerName::try_from(host.clone())
                .map_err(|e| HttpsError::Tls(host.clone(), e.to_string()))?;
            let mut tls = connector
                .connect(name, tcp)
                .await
                .map_err(|e| HttpsError::Tls(host.clone(), e.to_string()))?;
            tls.write_all(request).await.map_err(io)?;
            tls.flush().await.map_err(io)?;
            let mut resp = Vec::new();
            let read = (&mut tls)
                .take(max_response as u64)
                .read_to_end(&mut resp)
                .await;
            // A server that closes without TLS close_notify has still sent its whole answer
            // when the body is complete; callers check Content-Length when given.
            if let Err(e) = read {
                if e.kind() != std::io::ErrorKind::UnexpectedEof {
                    return Err(io(e));
                }
            }
            return Ok(resp);
        }
        Err(last)
    })
    .await
    .unwrap_or(Err(HttpsError::Timeout))
}

/// The status code of an HTTP/1.x answer.
pub fn status(resp: &[u8]) -> Option<u16> {
    let line = resp.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.trim_end().split(' ');
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_status() {
        assert_eq!(status(b"HTTP/1.1 204 No Content\r\n\r\n"), Some(204));
        assert_eq!(status(b"HTTP/1.0 404\n"), Some(404));
        assert_eq!(status(b"SMTP 200\r\n"), None);
        assert_eq!(status(b""), None);
    }
}
