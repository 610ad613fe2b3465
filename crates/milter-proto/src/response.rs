//! The milter's replies: decoding packets from a byte stream, bounded. A packet announcing more
//! than the configured limit is an error as soon as its length is read; nothing of that size is
//! ever allocated. REPLBODY arrives as many packets, each handed on as it comes.

use ferrymail_smtp::{Reply, ReplyParser};

use crate::wire::rsp;

/// One packet from the milter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// The answer to OPTNEG: version, actions, protocol steps, and the macro lists it wants
    /// (`(stage, names)`, SETSYMLIST data).
    OptNeg {
        version: u32,
        actions: u32,
        protocol: u32,
        symlists: Vec<(u32, Vec<String>)>,
    },
    Accept,
    Continue,
    Discard,
    Reject,
    Tempfail,
    /// A complete SMTP reply, 4xx or 5xx.
    ReplyCode(Reply),
    Progress,
    Skip,
    Shutdown,
    ConnFail,
    Quarantine(String),
    /// A change to the message or its envelope (end of message only).
    Edit(Edit),
    ReplBody(Vec<u8>),
}

/// A change a milter asks for at end of message, one per packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    AddHeader {
        name: String,
        value: String,
    },
    /// `index` counts the fields of that name from 1; an empty value deletes the field.
    ChgHeader {
        index: u32,
        name: String,
        value: String,
    },
    /// `index` is a position among all header fields, 0 = first.
    InsHeader {
        index: u32,
        name: String,
        value: String,
    },
    AddRcpt(String),
    AddRcptPar {
        rcpt: String,
        args: Option<String>,
    },
    DelRcpt(String),
    ChgFrom {
        from: String,
        args: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("reply packet of {0} octets is over the limit")]
    TooLarge(u64),
    #[error("empty reply packet")]
    Empty,
    #[error("unknown reply {0:#04x}")]
    Unknown(u8),
    #[error("malformed {0:?} reply")]
    Malformed(char),
    #[error("invalid SMTP reply from the milter: {0}")]
    BadReplyCode(String),
    #[error("unsupported protocol version {0}")]
    Version(u32),
    #[error("reply {0:?} not expected here")]
    Unexpected(char),
    #[error("action {0:?} was not negotiated")]
    NotAllowed(char),
    #[error("the milter closed the connection")]
    Closed,
}

impl Response {
    /// Parses one packet's command byte and data.
    pub fn parse(code: u8, data: &[u8]) -> Result<Response, ProtocolError> {
        let bad = || ProtocolError::Malformed(char::from(code));
        let no_data = |r: Response| if data.is_empty() { Ok(r) } else { Err(bad()) };
        let mut f = Fields(data);
        let r = match code {
            rsp::ACCEPT => return no_data(Response::Accept),
            rsp::CONTINUE => return no_data(Response::Continue),
            rsp::DISCARD => return no_data(Response::Discard),
            rsp::REJECT => return no_data(Response::Reject),
            rsp::TEMPFAIL => return no_data(Response::Tempfail),
            rsp::PROGRESS => return no_data(Response::Progress),
            rsp::SKIP => return no_data(Response::Skip),
            rsp::SHUTDOWN => return no_data(Response::Shutdown),
            rsp::CONN_FAIL => return no_data(Response::ConnFail),
            rsp::REPLBODY => return Ok(Response::ReplBody(data.to_vec())),
            rsp::OPTNEG => {
                let version = f.word().ok_or_else(bad)?;
                let actions = f.word().ok_or_else(bad)?;
                let protocol = f.word().ok_or_else(bad)?;
                let mut symlists = Vec::new();
                while !f.0.is_empty() {
                    let stage = f.word().ok_or_else(bad)?;
                    let names = f.string().ok_or_else(bad)?;
                    symlists.push((stage, names.split_whitespace().map(String::from).collect()));
                }
                Response::OptNeg {
                    version,
                    actions,
                    protocol,
                    symlists,
                }
            }
            rsp::REPLYCODE => Response::ReplyCode(smtp_reply(&f.string().ok_or_else(bad)?)?),
            rsp::QUARANTINE => Response::Quarantine(f.string().ok_or_else(bad)?),
            rsp::ADDHEADER => Response::Edit(Edit::AddHeader {
                name: f.string().ok_or_else(bad)?,
                value: f.string().ok_or_else(bad)?,
            }),
            rsp::CHGHEADER | rsp::INSHEADER => {
                let index = f.word().ok_or_else(bad)?;
                let name = f.string().ok_or_else(bad)?;
                let value = f.string().ok_or_else(bad)?;
                Response::Edit(if code == rsp::CHGHEADER {
                    Edit::ChgHeader { index, name, value }
                } else {
                    Edit::InsHeader { index, name, value }
                })
            }
            rsp::ADDRCPT => Response::Edit(Edit::AddRcpt(f.string().ok_or_else(bad)?)),
            rsp::DELRCPT => Response::Edit(Edit::DelRcpt(f.string().ok_or_else(bad)?)),
            rsp::ADDRCPT_PAR | rsp::CHGFROM => {
                let addr = f.string().ok_or_else(bad)?;
                let args = if f.0.is_empty() {
                    None
                } else {
                    Some(f.string().ok_or_else(bad)?).filter(|a| !a.is_empty())
                };
                Response::Edit(if code == rsp::CHGFROM {
                    Edit::ChgFrom { from: addr, args }
                } else {
                    Edit::AddRcptPar { rcpt: addr, args }
                })
            }
            other => return Err(ProtocolError::Unknown(other)),
        };
        if !f.0.is_empty() {
            return Err(bad());
        }
        Ok(r)
    }
}

/// The REPLYCODE text must be a complete SMTP reply of class 4 or 5 (several lines joined by
/// CRLF are allowed), so a milter cannot make us send 250 or break the reply framing.
fn smtp_reply(text: &str) -> Result<Reply, ProtocolError> {
    let bad = || ProtocolError::BadReplyCode(text.chars().take(200).collect());
    let mut parser = ReplyParser::new(100);
    let body = text.strip_suffix("\r\n").unwrap_or(text);
    let lines: Vec<&str> = body.split("\r\n").collect();
    for (i, line) in lines.iter().enumerate() {
        if line.contains(['\r', '\n']) {
            return Err(bad());
        }
        let last = i + 1 == lines.len();
        match (parser.feed_line(line.as_bytes()).map_err(|_| bad())?, last) {
            (Some(reply), true) if (400..600).contains(&reply.code) => return Ok(reply),
            (None, false) => {}
            _ => return Err(bad()),
        }
    }
    Err(bad())
}

/// Reads the fields of a packet's data.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn word(&mut self) -> Option<u32> {
        let (w, rest) = self.0.split_first_chunk::<4>()?;
        self.0 = rest;
        Some(u32::from_be_bytes(*w))
    }

    /// A NUL-terminated string (invalid UTF-8 replaced: these end up in headers and logs).
    fn string(&mut self) -> Option<String> {
        let end = self.0.iter().position(|&b| b == 0)?;
        let (s, rest) = self.0.split_at(end);
        self.0 = rest.get(1..)?;
        Some(String::from_utf8_lossy(s).into_owned())
    }
}

/// Splits a byte stream into packets. Feed it what arrives, take packets out with
/// [`Decoder::packet`]; its buffer never holds more than one packet of at most `max` octets
/// plus what was fed after it.
#[derive(Debug)]
pub struct Decoder {
    buf: Vec<u8>,
    max: usize,
}

impl Decoder {
    pub fn new(max: usize) -> Decoder {
        Decoder {
            buf: Vec::new(),
            max,
        }
    }

    pub fn feed(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// How many more octets complete the next packet (at least 1 when none is complete), or
    /// an error when the next packet is over the limit: lets a reader ask for no more than
    /// it needs.
    pub fn wanted(&self) -> Result<usize, ProtocolError> {
        match self.buf.first_chunk::<4>() {
            None => Ok(4 - self.buf.len()),
            Some(l) => {
                let len = u32::from_be_bytes(*l) as usize;
                if len == 0 {
                    return Err(ProtocolError::Empty);
                }
                if len > self.max {
                    return Err(ProtocolError::TooLarge(len as u64));
                }
                Ok((4 + len).saturating_sub(self.buf.len()))
            }
        }
    }

    /// The next complete packet, if one is buffered.
    pub fn packet(&mut self) -> Result<Option<Response>, ProtocolError> {
        if self.wanted()? > 0 {
            return Ok(None);
        }
        let len = self
            .buf
            .first_chunk::<4>()
            .map_or(0, |l| u32::from_be_bytes(*l) as usize);
        let packet: Vec<u8> = self.buf.drain(..4 + len).collect();
        let (code, data) = match packet.get(4..) {
            Some([code, data @ ..]) => (*code, data),
            _ => return Err(ProtocolError::Empty),
        };
        Response::parse(code, data).map(Some)
    }
}

#[cfg(test)]
#[path = "response_tests.rs"]
mod tests;
