//! The client side of an SMTP or LMTP connection: a stream that may be TCP, TLS-over-TCP
//! (after STARTTLS) or a Unix socket, and reply reading with a time limit on each whole reply
//! (so a slow-drip server cannot stretch a reply forever) and bounded line length and count.
//!
//! This is the client counterpart of `ferrymail_net::stream::MaybeTls` (which is server-side);
//! another client (say a future submission relay) should share it.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use ferrymail_net::lines::{read_line, Line};
use ferrymail_smtp::{Reply, ReplyParser};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::client::TlsStream;
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

pub enum ClientStream {
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    Unix(UnixStream),
    /// Only during a STARTTLS upgrade.
    Gone,
}

impl ClientStream {
    pub fn is_tls(&self) -> bool {
        matches!(self, ClientStream::Tls(_))
    }
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "stream lost in a TLS upgrade")
}

ferrymail_net::forward_async_io! {
    ClientStream {
        ClientStream::Tcp(s) => s,
        ClientStream::Tls(s) => s,
        ClientStream::Unix(s) => s,
    }
    lost ClientStream::Gone => gone(), shutdown: Err(gone())
}

/// A connection with reply reading.
pub struct Wire {
    io: BufReader<ClientStream>,
    line: Vec<u8>,
}

impl Wire {
    pub fn new(stream: ClientStream) -> Wire {
        Wire {
            io: BufReader::with_capacity(16 * 1024, stream),
            line: Vec::with_capacity(512),
        }
    }

    pub fn is_tls(&self) -> bool {
        self.io.get_ref().is_tls()
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
        let old = std::mem::replace(self.io.get_mut(), ClientStream::Gone);
        let ClientStream::Tcp(tcp) = old else {
            *self.io.get_mut() = old;
            return Err(WireError::Tls(io::Error::other("TLS on a non-TCP stream")));
        };
        match tokio::time::timeout(limit, connector.connect(name, tcp)).await {
            Ok(Ok(tls)) => {
                *self.io.get_mut() = ClientStream::Tls(Box::new(tls));
                Ok(())
            }
            Ok(Err(e)) => Err(WireError::Tls(e)),
            Err(_) => Err(WireError::Timeout("in TLS handshake")),
        }
    }

    /// "TLSv1.3 TLS13_AES_256_GCM_SHA384" when encrypted.
    pub fn tls_description(&self) -> Option<String> {
        match self.io.get_ref() {
            ClientStream::Tls(s) => {
                let c = s.get_ref().1;
                Some(format!(
                    "{:?} {:?}",
                    c.protocol_version()?,
                    c.negotiated_cipher_suite()?.suite()
                ))
            }
            _ => None,
        }
    }
}

/// TLS client configurations: one that verifies certificates against the system roots and
/// one that accepts any certificate (RFC 7435 opportunistic TLS: encryption without
/// authentication still beats plaintext).
#[derive(Clone)]
pub struct TlsClients {
    pub verify: TlsConnector,
    pub any: TlsConnector,
}

impl TlsClients {
    pub fn new() -> Result<TlsClients, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for e in &native.errors {
            tracing::debug!(error = %e, "loading system CA certificates");
        }
        let (added, _ignored) = roots.add_parsable_certificates(native.certs);
        tracing::debug!(added, "system CA certificates loaded");
        let verify = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let any = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
            .with_no_client_auth();
        Ok(TlsClients {
            verify: TlsConnector::from(Arc::new(verify)),
            any: TlsConnector::from(Arc::new(any)),
        })
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
