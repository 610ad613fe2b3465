//! One place for the `AsyncRead`/`AsyncWrite` plumbing of a stream that is one of several
//! streams (plain or TLS, TCP or Unix): every call goes to the stream the current variant
//! holds. [`crate::stream::MaybeTls`] and `ferrymail_spawn::session_stream::SessionStream` are
//! written with [`forward_async_io!`].

/// Implements `tokio::io::AsyncRead` and `AsyncWrite` (vectored writes included) for an enum
/// by forwarding each call to the stream bound in the matching arm (each inner stream must
/// be `Unpin`; a `Box` of one forwards by itself). An optional `lost` arm names a variant that
/// holds no stream (say, during a TLS upgrade): reads, writes and flushes fail with its
/// error, and shutting it down returns the `shutdown` result.
///
/// ```
/// use tokio::net::{TcpStream, UnixStream};
///
/// enum Client {
///     Tcp(TcpStream),
///     Unix(UnixStream),
///     Gone,
/// }
///
/// fn gone() -> std::io::Error {
///     std::io::Error::new(std::io::ErrorKind::NotConnected, "stream lost")
/// }
///
/// ferrymail_net::forward_async_io! {
///     Client {
///         Client::Tcp(s) => s,
///         Client::Unix(s) => s,
///     }
///     lost Client::Gone => gone(), shutdown: Err(gone())
/// }
///
/// fn is_io<T: tokio::io::AsyncRead + tokio::io::AsyncWrite>() {}
/// is_io::<Client>();
/// ```
#[macro_export]
macro_rules! forward_async_io {
    (
        $ty:ident { $($pat:pat => $s:ident),+ $(,)? }
        $(lost $lost:pat => $err:expr, shutdown: $shut:expr)? $(,)?
    ) => {
        impl $crate::forward::__tokio::io::AsyncRead for $ty {
            fn poll_read(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                buf: &mut $crate::forward::__tokio::io::ReadBuf<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                match self.get_mut() {
                    $($pat => $crate::forward::__tokio::io::AsyncRead::poll_read(
                        ::std::pin::Pin::new($s), cx, buf
                    ),)+
                    $($lost => ::std::task::Poll::Ready(Err($err)),)?
                }
            }
        }

        impl $crate::forward::__tokio::io::AsyncWrite for $ty {
            fn poll_write(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                buf: &[u8],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                match self.get_mut() {
                    $($pat => $crate::forward::__tokio::io::AsyncWrite::poll_write(
                        ::std::pin::Pin::new($s), cx, buf
                    ),)+
                    $($lost => ::std::task::Poll::Ready(Err($err)),)?
                }
            }

            fn poll_flush(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                match self.get_mut() {
                    $($pat => $crate::forward::__tokio::io::AsyncWrite::poll_flush(
                        ::std::pin::Pin::new($s), cx
                    ),)+
                    $($lost => ::std::task::Poll::Ready(Err($err)),)?
                }
            }

            fn poll_shutdown(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                match self.get_mut() {
                    $($pat => $crate::forward::__tokio::io::AsyncWrite::poll_shutdown(
                        ::std::pin::Pin::new($s), cx
                    ),)+
                    $($lost => ::std::task::Poll::Ready($shut),)?
                }
            }

            fn poll_write_vectored(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                bufs: &[::std::io::IoSlice<'_>],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                match self.get_mut() {
                    $($pat => $crate::forward::__tokio::io::AsyncWrite::poll_write_vectored(
                        ::std::pin::Pin::new($s), cx, bufs
                    ),)+
                    $($lost => ::std::task::Poll::Ready(Err($err)),)?
                }
            }

            fn is_write_vectored(&self) -> bool {
                match self {
                    $($pat => $crate::forward::__tokio::io::AsyncWrite::is_write_vectored($s),)+
                    $($lost => false,)?
                }
            }
        }
    };
}

#[doc(hidden)]
pub use tokio as __tokio;

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
    use tokio::net::UnixStream;

    enum Either {
        Unix(UnixStream),
        Boxed(Box<UnixStream>),
        Lost,
    }

    fn lost() -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::NotConnected, "lost")
    }

    crate::forward_async_io! {
        Either {
            Either::Unix(s) => s,
            Either::Boxed(s) => s,
        }
        lost Either::Lost => lost(), shutdown: Ok(())
    }

    #[tokio::test]
    async fn every_call_reaches_the_stream_of_the_variant() {
        for boxed in [false, true] {
            let (a, mut peer) = UnixStream::pair().unwrap();
            let mut s = if boxed {
                Either::Boxed(Box::new(a))
            } else {
                Either::Unix(a)
            };
            s.write_all(b"ping").await.unwrap();
            let mut buf = [0u8; 4];
            peer.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"ping");
            peer.write_all(b"pong").await.unwrap();
            s.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"pong");
            s.shutdown().await.unwrap();
            assert_eq!(peer.read(&mut buf).await.unwrap(), 0, "EOF after shutdown");
        }
    }

    #[tokio::test]
    async fn a_lost_stream_fails_but_shuts_down() {
        let mut s = Either::Lost;
        let mut buf = [0u8; 4];
        let e = s.read(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotConnected);
        let e = s.write(b"x").await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotConnected);
        assert!(s.flush().await.is_err());
        assert!(!s.is_write_vectored());
        s.shutdown().await.unwrap();
    }
}
