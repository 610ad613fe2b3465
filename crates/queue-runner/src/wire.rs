//! The client side of an SMTP or LMTP connection: [`SmtpClientConn`] reads replies with a
//! time limit on each whole reply (so a slow-drip server cannot stretch a reply forever) and
//! bounded line length and count, over `ferrymail_net::stream::MaybeTls` — the stream type
//! the servers use too (TCP, TLS after STARTTLS, or the Unix socket to local-delivery).
//! Also the TLS client configurations.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ferrymail_net::lines::{read_line, Line};
use ferrymail_net::stream::MaybeTls;
use ferrymail_net::tls::TlsError;
use ferrymail_smtp::{Reply, ReplyParser};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio_rustls::TlsConnector;

/// Longest reply line we accept (RFC 5321 §4.5.3.1.5 says 512; servers exceed it).
pub const MAX_REPLY_LINE: usize = 4096;
/// Most lines in one multi-line reply (an EHLO answer has a dozen).
pub const MAX_REPLY_LINES: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("timeout {0}")]
    Timeout(&'static str),
    #[error("lost connection {0}")]
    Closed(&'static str),
    #[error("malformed reply {stage}: {error}")]
    Malformed { stage: &'static str, error: String },
    #[error("TLS handshake failed: {0}")]
    Tls(io::Error),
    #[error("server sent data before the TLS handshake (possible injection)")]
    TlsInjection,
}

/// An SMTP or LMTP client connection with reply reading.
pub struct SmtpClientConn {
    io: BufReader<MaybeTls>,
    line: Vec<u8>,
}

impl SmtpClientConn {
    pub fn new(stream: MaybeTls) -> SmtpClientConn {
        SmtpClientConn {
            io: BufReader::with_capacity(16 * 1024, stream),
            line: Vec::with_capacity(512),
        }
    }

    pub fn is_tls(&self) -> bool {
        self.io.get_ref().is_tls()
    }

    /// Whether an idle connection is still open with nothing unread: the server has not
    /// closed it (EOF) nor sent anything unasked (e.g. a 421 before closing). Only plain
    /// sockets can be checked without reading; a TLS connection counts as not quiet.
    pub fn is_quiet(&self) -> bool {
        if !self.io.buffer().is_empty() {
            return false;
        }
        let mut probe = [0u8; 1];
        let r = match self.io.get_ref() {
            MaybeTls::Unix(s) => s.try_read(&mut probe),
            MaybeTls::Plain(s) => s.try_read(&mut probe),
            _ => return false,
        };
        matches!(r, Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// Reads one complete (possibly multi-line) reply within `limit`.
    pub async fn reply(
        &mut self,
        stage: &'static str,
        limit: Duration,
    ) -> Result<Reply, WireError> {
        match tokio::time::timeout(limit, self.reply_inner(stage)).await {
            Ok(r) => r,
            Err(_) => Err(WireError::Timeout(stage)),
        }
    }

    async fn reply_inner(&mut self, stage: &'static str) -> Result<Reply, WireError> {
        let mut parser = ReplyParser::new(MAX_REPLY_LINES);
        loop {
            match read_line(&mut self.io, &mut self.line, MAX_REPLY_LINE).await? {
                Line::Complete => {}
                Line::TooLong => {
                    return Err(WireError::Malformed {
                        stage,
                        error: "reply line too long".into(),
                    })
                }
                Line::Eof => return Err(WireError::Closed(stage)),
            }
            match parser.feed_line(&self.line) {
                Ok(Some(reply)) => return Ok(reply),
                Ok(None) => {}
                Err(e) => {
                    return Err(WireError::Malformed {
                        stage,
                        error: e.to_string(),
                    })
                }
            }
        }
    }

    /// Writes and flushes `bytes` within `limit`.
    pub async fn send(
        &mut self,
        bytes: &[u8],
        stage: &'static str,
        limit: Duration,
    ) -> Result<(), WireError> {
        let w = async {
            self.io.get_mut().write_all(bytes).await?;
            self.io.get_mut().flush().await
        };
        match tokio::time::timeout(limit, w).await {
            Ok(r) => Ok(r?),
            Err(_) => Err(WireError::Timeout(stage)),
        }
    }

    /// Sends one command and reads its reply, each within `limit`; `stages` name the two
    /// halves in errors (`("sending RCPT TO", "after RCPT TO")`).
    pub async fn command(
        &mut self,
        bytes: &[u8],
        stages: (&'static str, &'static str),
        limit: Duration,
    ) -> Result<Reply, WireError> {
        self.send(bytes, stages.0, limit).await?;
        self.reply(stages.1, limit).await
    }

    /// STARTTLS: hands the raw TCP socket to TLS. Anything the server sent after its 220
    /// would be plaintext smuggled into the TLS session, so it is refused.
    pub async fn upgrade(
        &mut self,
        connector: &TlsConnector,
        name: ServerName<'static>,
        limit: Duration,
    ) -> Result<(), WireError> {
        if !self.io.buffer().is_empty() {
            return Err(WireError::TlsInjection);
        }
        match tokio::time::timeout(limit, self.io.get_mut().upgrade_client(connector, name)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(WireError::Tls(e)),
            Err(_) => Err(WireError::Timeout("in TLS handshake")),
        }
    }

    /// "TLSv1.3 with cipher TLS13_AES_256_GCM_SHA384" when encrypted.
    pub fn tls_description(&self) -> Option<String> {
        self.io.get_ref().tls_description()
    }
}

/// TLS client configurations: one that verifies certificates against the system roots (and
/// `queue.tls_trust_anchors`) and one that accepts any certificate (RFC 7435 opportunistic TLS: encryption without
/// authentication still beats plaintext).
#[derive(Clone)]
pub struct TlsClients {
    pub verify: TlsConnector,
    pub any: TlsConnector,
    /// The crypto of both, for connectors made per connection (DANE).
    pub provider: Arc<rustls::crypto::CryptoProvider>,
}

impl TlsClients {
    /// `extra_anchors`: PEM files of CA certificates trusted besides the system's.
    pub fn new(extra_anchors: &[PathBuf]) -> Result<TlsClients, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verify = ferrymail_net::tls_client::verifying_config(extra_anchors)?;
        let any = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(provider.clone())))
            .with_no_client_auth();
        Ok(TlsClients {
            verify: TlsConnector::from(Arc::new(verify)),
            any: TlsConnector::from(Arc::new(any)),
            provider,
        })
    }

    /// A connector whose certificate check is `verifier` (DANE: per host's TLSA records).
    pub fn with_verifier(
        &self,
        verifier: Arc<dyn rustls::client::danger::ServerCertVerifier>,
    ) -> Result<TlsConnector, rustls::Error> {
        let config = rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(TlsConnector::from(Arc::new(config)))
    }
}

/// Accepts any certificate but still checks the handshake signatures, so the session is at
/// least bound to whoever holds the key.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
