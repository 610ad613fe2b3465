//! One connection to one milter: connecting and negotiating within `connect_timeout`, writing
//! packets, and reading replies within the stage's timeout, never more than the decoder asks
//! for (so an announced oversized packet is refused before it is read).

use std::sync::Arc;
use std::time::Duration;

use ferrymail_config::{Milter, MilterAddress};
use ferrymail_milter::negotiate::offer;
use ferrymail_milter::{Client, Decoder, Negotiated, ProtocolError, Response};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Why a milter dropped out.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("connect: {0}")]
    Connect(std::io::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("timed out")]
    Timeout,
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub struct Link {
    pub cfg: Arc<Milter>,
    pub client: Client,
    io: Box<dyn Io>,
    decoder: Decoder,
    /// Packets waiting to be written (events that get no reply are sent with the next).
    pub out: Vec<u8>,
}

impl Link {
    /// Connects and negotiates.
    pub async fn open(cfg: Arc<Milter>) -> Result<Link, LinkError> {
        let deadline = cfg.connect_timeout;
        let io: Box<dyn Io> = match cfg.parsed_address() {
            Ok(MilterAddress::Inet { host, port }) => {
                let s = within(deadline, async {
                    tokio::net::TcpStream::connect((host.as_str(), port))
                        .await
                        .map_err(LinkError::Connect)
                })
                .await?;
                let _ = s.set_nodelay(true);
                Box::new(s)
            }
            Ok(MilterAddress::Unix(path)) => Box::new(
                within(deadline, async {
                    tokio::net::UnixStream::connect(&path)
                        .await
                        .map_err(LinkError::Connect)
                })
                .await?,
            ),
            Err(e) => return Err(LinkError::Connect(std::io::Error::other(e))),
        };
        let mut decoder = Decoder::new(cfg.max_reply_size);
        let mut io = io;
        let mut packet = Vec::new();
        offer().encode(&mut packet);
        let neg = within(deadline, async {
            io.write_all(&packet).await?;
            let r = read_packet(&mut io, &mut decoder).await?;
            Ok(Negotiated::from_response(r)?)
        })
        .await?;
        tracing::debug!(
            milter = %cfg.name,
            version = neg.version,
            actions = format_args!("{:#x}", neg.actions),
            protocol = format_args!("{:#x}", neg.protocol),
            "milter negotiated"
        );
        Ok(Link {
            cfg,
            client: Client::new(neg),
            io,
            decoder,
            out: Vec::new(),
        })
    }

    /// Writes what is buffered.
    pub async fn flush(&mut self, timeout: Duration) -> Result<(), LinkError> {
        if self.out.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.out);
        let io = &mut self.io;
        within(timeout, async {
            io.write_all(&out).await?;
            Ok(())
        })
        .await?;
        self.out = out;
        self.out.clear();
        Ok(())
    }

    /// Writes what is buffered, then reads one reply packet.
    pub async fn reply(&mut self, timeout: Duration) -> Result<Response, LinkError> {
        self.flush(timeout).await?;
        let (io, decoder) = (&mut self.io, &mut self.decoder);
        within(timeout, read_packet(io, decoder)).await
    }

    /// Best effort: the packets buffered and then the connection's end.
    pub async fn close(mut self) {
        let _ = self.flush(Duration::from_secs(1)).await;
        let _ = tokio::time::timeout(Duration::from_secs(1), self.io.shutdown()).await;
    }
}

async fn within<T>(
    timeout: Duration,
    f: impl std::future::Future<Output = Result<T, LinkError>>,
) -> Result<T, LinkError> {
    tokio::time::timeout(timeout, f)
        .await
        .unwrap_or(Err(LinkError::Timeout))
}

async fn read_packet(io: &mut Box<dyn Io>, decoder: &mut Decoder) -> Result<Response, LinkError> {
    let mut buf = [0u8; 16 * 1024];
    loop {
        if let Some(r) = decoder.packet()? {
            return Ok(r);
        }
        let want = decoder.wanted()?.clamp(1, buf.len());
        let n = io.read(buf.get_mut(..want).unwrap_or_default()).await?;
        if n == 0 {
            return Err(ProtocolError::Closed.into());
        }
        decoder.feed(buf.get(..n).unwrap_or_default());
    }
}
