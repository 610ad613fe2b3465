//! Both sides of one connection are the same [`MaybeTls`]: they upgrade, talk, and fail
//! alike.

use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::MaybeTls;

fn tls_pair() -> (TlsAcceptor, TlsConnector) {
    let (cert, key) = crate::tls::self_signed(&["mail.example.test".into()]).unwrap();
    let cert = CertificateDer::from_pem_slice(cert.as_bytes()).unwrap();
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    let server = crate::tls::server_config(vec![cert], key).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (
        TlsAcceptor::from(server),
        TlsConnector::from(Arc::new(client)),
    )
}

async fn tcp_pair() -> (MaybeTls, MaybeTls) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (MaybeTls::Plain(server), MaybeTls::Plain(client))
}

fn name() -> ServerName<'static> {
    ServerName::try_from("mail.example.test").unwrap()
}

#[tokio::test]
async fn client_and_server_upgrade_the_same_type_and_talk() {
    let (acceptor, connector) = tls_pair();
    let (mut server, mut client) = tcp_pair().await;
    assert!(!server.is_tls() && server.tls_description().is_none());
    let (s, c) = tokio::join!(
        server.upgrade(&acceptor),
        client.upgrade_client(&connector, name())
    );
    s.unwrap();
    c.unwrap();
    for side in [&server, &client] {
        assert!(side.is_tls());
        let d = side.tls_description().unwrap();
        assert!(d.starts_with("TLSv1.3 with cipher"), "{d}");
    }
    client.write_all(b"EHLO x\r\n").await.unwrap();
    client.flush().await.unwrap();
    let mut buf = [0u8; 8];
    server.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"EHLO x\r\n");
    // A second upgrade is refused and keeps the session.
    let err = server.upgrade(&acceptor).await.unwrap_err();
    assert!(err.to_string().contains("already"), "{err}");
    assert!(server.is_tls());
    server.shutdown().await.unwrap();
    client.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_failed_handshake_loses_the_stream_the_same_way_on_both_sides() {
    let (acceptor, connector) = tls_pair();
    // The client expects another name than the certificate's: its handshake fails, and so
    // does the server's when the client gives up.
    let (mut server, mut client) = tcp_pair().await;
    let wrong = ServerName::try_from("other.example.test").unwrap();
    let (s, c) = tokio::join!(
        server.upgrade(&acceptor),
        client.upgrade_client(&connector, wrong)
    );
    assert!(s.is_err() && c.is_err());
    for side in [&mut server, &mut client] {
        assert!(matches!(side, MaybeTls::Upgrading));
        let err = side.write_all(b"QUIT\r\n").await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotConnected);
        let mut buf = [0u8; 1];
        let err = side.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotConnected);
        // Nothing is left to shut down: closing succeeds, on either side.
        side.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn a_unix_stream_is_not_upgraded_and_stays_usable() {
    let (acceptor, connector) = tls_pair();
    let (a, mut b) = UnixStream::pair().unwrap();
    let mut a = MaybeTls::Unix(a);
    assert!(a.upgrade(&acceptor).await.is_err());
    assert!(a.upgrade_client(&connector, name()).await.is_err());
    assert!(matches!(a, MaybeTls::Unix(_)));
    a.write_all(b"LHLO x\r\n").await.unwrap();
    let mut buf = [0u8; 8];
    b.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"LHLO x\r\n");
}
