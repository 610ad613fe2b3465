//! The `/metrics` listener a daemon runs when its section sets `metrics_listen`: a deliberately
//! small HTTP/1.1 responder for Prometheus scrapers. One request per connection (answered with
//! `Connection: close`), `GET`/`HEAD /metrics` only (404 for other paths, 405 for other
//! methods), the request head bounded in size and time and the scrapes served at once bounded
//! in number (`[metrics]`), so a client that is not a scraper costs almost nothing. The body is
//! `ferrymail-metrics`' registry in the Prometheus text format 0.0.4.

use std::sync::Arc;
use std::time::Duration;

use ferrymail_config::Metrics as Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::signals::Shutdown;

/// The only path served.
pub const PATH: &str = "/metrics";

/// The answer to one request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// The metrics; `body: false` for HEAD.
    Metrics {
        body: bool,
    },
    NotFound,
    MethodNotAllowed,
    BadRequest,
    TooLarge,
}

impl Answer {
    fn status(self) -> &'static str {
        match self {
            Answer::Metrics { .. } => "200 OK",
            Answer::NotFound => "404 Not Found",
            Answer::MethodNotAllowed => "405 Method Not Allowed",
            Answer::BadRequest => "400 Bad Request",
            Answer::TooLarge => "431 Request Header Fields Too Large",
        }
    }
}

/// Decides from the request head (everything before the blank line). Only the request line
/// matters; headers are read past and ignored.
fn route(head: &[u8]) -> Answer {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Answer::BadRequest;
    };
    if !version.starts_with(b"HTTP/1.") {
        return Answer::BadRequest;
    }
    let path = target.split(|&b| b == b'?').next().unwrap_or_default();
    let body = match method {
        b"GET" => true,
        b"HEAD" => false,
        _ => return Answer::MethodNotAllowed,
    };
    if path != PATH.as_bytes() {
        return Answer::NotFound;
    }
    Answer::Metrics { body }
}

/// Where the request head ends (just past the blank line), if it has arrived.
fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|p| p + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Reads the request head: `Ok(None)` when the client closed first or it exceeds `max`.
async fn read_head(stream: &mut TcpStream, max: usize) -> std::io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::with_capacity(max.min(1024));
    let mut chunk = [0u8; 1024];
    loop {
        if head_end(&buf).is_some() {
            return Ok(Some(buf));
        }
        if buf.len() >= max {
            return Ok(None);
        }
        let want = chunk.len().min(max - buf.len());
        let n = stream.read(&mut chunk[..want]).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn respond(mut stream: TcpStream, limits: &Limits) {
    let head = tokio::time::timeout(
        limits.request_timeout,
        read_head(&mut stream, limits.max_request_size),
    )
    .await;
    let answer = match head {
        Ok(Ok(Some(head))) => route(&head),
        Ok(Ok(None)) => Answer::TooLarge,
        // Timed out or broken: nobody to answer.
        Ok(Err(_)) | Err(_) => return,
    };
    let body = match answer {
        Answer::Metrics { .. } => {
            match tokio::task::spawn_blocking(ferrymail_metrics::encode).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "encoding the metrics failed");
                    return;
                }
            }
        }
        _ => format!("{}\n", answer.status()),
    };
    let content_type = match answer {
        Answer::Metrics { .. } => ferrymail_metrics::CONTENT_TYPE,
        _ => "text/plain; charset=utf-8",
    };
    let allow = match answer {
        Answer::MethodNotAllowed => "Allow: GET, HEAD\r\n",
        _ => "",
    };
    let mut out = format!(
        "HTTP/1.1 {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n",
        answer.status(),
        body.len()
    )
    .into_bytes();
    if answer != (Answer::Metrics { body: false }) {
        out.extend_from_slice(body.as_bytes());
    }
    let _ = tokio::time::timeout(limits.request_timeout, async {
        stream.write_all(&out).await?;
        stream.shutdown().await
    })
    .await;
}

/// Serves `/metrics` on `listener` until shutdown.
pub async fn serve(
    listener: std::net::TcpListener,
    limits: Limits,
    mut shutdown: Shutdown,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let limits = Arc::new(limits);
    loop {
        let accepted = tokio::select! {
            _ = shutdown.wait() => return Ok(()),
            a = listener.accept() => a,
        };
        let stream = match accepted {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!(error = %e, "metrics listener: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Over the limit: closed at once, so a flood of idle connections holds nothing.
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            continue;
        };
        let limits = Arc::clone(&limits);
        tokio::spawn(async move {
            respond(stream, &limits).await;
            drop(permit);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals::shutdown_pair;

    #[test]
    fn routes_by_method_and_path() {
        let get = |l: &str| route(format!("{l}\r\nHost: x\r\n\r\n").as_bytes());
        assert_eq!(get("GET /metrics HTTP/1.1"), Answer::Metrics { body: true });
        assert_eq!(
            get("GET /metrics?name[]=x HTTP/1.0"),
            Answer::Metrics { body: true }
        );
        assert_eq!(
            get("HEAD /metrics HTTP/1.1"),
            Answer::Metrics { body: false }
        );
        assert_eq!(get("GET / HTTP/1.1"), Answer::NotFound);
        assert_eq!(get("GET /metricsx HTTP/1.1"), Answer::NotFound);
        assert_eq!(get("POST /metrics HTTP/1.1"), Answer::MethodNotAllowed);
        assert_eq!(get("GET /metrics"), Answer::BadRequest);
        assert_eq!(get("GET /metrics SMTP/1.1"), Answer::BadRequest);
        assert_eq!(get("GET  /metrics HTTP/1.1"), Answer::BadRequest);
    }

    #[test]
    fn head_ends_at_the_first_blank_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nrest"), Some(24));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\n"), Some(16));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n"), None);
    }

    async fn exchange(addr: std::net::SocketAddr, request: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(request).await.unwrap();
        let mut out = String::new();
        tokio::time::timeout(Duration::from_secs(10), s.read_to_string(&mut out))
            .await
            .expect("the listener closes the connection")
            .unwrap();
        out
    }

    #[tokio::test]
    async fn answers_scrapes_refuses_the_rest_and_stops_on_shutdown() {
        ferrymail_metrics::disk::register();
        let l = crate::listeners::bind_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = l.local_addr().unwrap();
        let (trigger, shutdown) = shutdown_pair();
        let limits = Limits {
            request_timeout: Duration::from_millis(500),
            max_request_size: 256,
            ..Limits::default()
        };
        let server = tokio::spawn(serve(l, limits, shutdown));

        let ok = exchange(addr, b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n").await;
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(
            ok.contains("Content-Type: text/plain; version=0.0.4"),
            "{ok}"
        );
        assert!(ok.contains("Connection: close\r\n"), "{ok}");
        assert!(ok.contains("\r\n\r\n# HELP ferrymail_"), "{ok}");
        assert!(
            ok.contains("ferrymail_disk_flushes_total{kind=\"dir\"}"),
            "{ok}"
        );

        let head = exchange(addr, b"HEAD /metrics HTTP/1.1\r\n\r\n").await;
        assert!(head.ends_with("\r\n\r\n"), "{head}");
        let missing = exchange(addr, b"GET /other HTTP/1.1\r\n\r\n").await;
        assert!(missing.starts_with("HTTP/1.1 404 "), "{missing}");
        let post = exchange(addr, b"POST /metrics HTTP/1.1\r\n\r\n").await;
        assert!(post.starts_with("HTTP/1.1 405 "), "{post}");
        assert!(post.contains("Allow: GET, HEAD\r\n"), "{post}");
        let huge = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(300));
        let big = exchange(addr, huge.as_bytes()).await;
        assert!(big.starts_with("HTTP/1.1 431 "), "{big}");
        // A silent client is dropped after request_timeout.
        let silent = exchange(addr, b"GET /metrics HTTP/1.1\r\n").await;
        assert_eq!(silent, "");

        trigger.trigger();
        tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("stops on shutdown")
            .unwrap()
            .unwrap();
    }
}
