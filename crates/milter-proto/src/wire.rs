//! The milter wire format (libmilter's `mfdef.h`): every packet is a big-endian `u32` length
//! (counting the command byte), one command byte, then the command's data. Strings are
//! NUL-terminated. This file holds the constants and the encoder of the packets the MTA sends.

/// The protocol version we speak (Sendmail 8.14 / Postfix 2.6 and later).
pub const VERSION: u32 = 6;

/// Commands from the MTA to the milter (`SMFIC_*`).
pub mod cmd {
    pub const ABORT: u8 = b'A';
    pub const BODY: u8 = b'B';
    pub const CONNECT: u8 = b'C';
    pub const MACRO: u8 = b'D';
    pub const BODYEOB: u8 = b'E';
    pub const HELO: u8 = b'H';
    pub const QUIT_NC: u8 = b'K';
    pub const HEADER: u8 = b'L';
    pub const MAIL: u8 = b'M';
    pub const EOH: u8 = b'N';
    pub const OPTNEG: u8 = b'O';
    pub const QUIT: u8 = b'Q';
    pub const RCPT: u8 = b'R';
    pub const DATA: u8 = b'T';
    pub const UNKNOWN: u8 = b'U';
}

/// Replies from the milter (`SMFIR_*`).
pub mod rsp {
    pub const ADDRCPT: u8 = b'+';
    pub const DELRCPT: u8 = b'-';
    pub const ADDRCPT_PAR: u8 = b'2';
    pub const SHUTDOWN: u8 = b'4';
    pub const ACCEPT: u8 = b'a';
    pub const REPLBODY: u8 = b'b';
    pub const CONTINUE: u8 = b'c';
    pub const DISCARD: u8 = b'd';
    pub const CHGFROM: u8 = b'e';
    pub const CONN_FAIL: u8 = b'f';
    pub const ADDHEADER: u8 = b'h';
    pub const INSHEADER: u8 = b'i';
    pub const SETSYMLIST: u8 = b'l';
    pub const CHGHEADER: u8 = b'm';
    pub const PROGRESS: u8 = b'p';
    pub const QUARANTINE: u8 = b'q';
    pub const REJECT: u8 = b'r';
    pub const SKIP: u8 = b's';
    pub const TEMPFAIL: u8 = b't';
    pub const REPLYCODE: u8 = b'y';
    pub const OPTNEG: u8 = b'O';
}

/// Protocol steps the milter may ask to leave out or not answer (`SMFIP_*`).
pub mod proto {
    pub const NOCONNECT: u32 = 1 << 0;
    pub const NOHELO: u32 = 1 << 1;
    pub const NOMAIL: u32 = 1 << 2;
    pub const NORCPT: u32 = 1 << 3;
    pub const NOBODY: u32 = 1 << 4;
    pub const NOHDRS: u32 = 1 << 5;
    pub const NOEOH: u32 = 1 << 6;
    pub const NR_HDR: u32 = 1 << 7;
    pub const NOUNKNOWN: u32 = 1 << 8;
    pub const NODATA: u32 = 1 << 9;
    pub const SKIP: u32 = 1 << 10;
    pub const RCPT_REJ: u32 = 1 << 11;
    pub const NR_CONN: u32 = 1 << 12;
    pub const NR_HELO: u32 = 1 << 13;
    pub const NR_MAIL: u32 = 1 << 14;
    pub const NR_RCPT: u32 = 1 << 15;
    pub const NR_DATA: u32 = 1 << 16;
    pub const NR_UNKN: u32 = 1 << 17;
    pub const NR_EOH: u32 = 1 << 18;
    pub const NR_BODY: u32 = 1 << 19;
    pub const HDR_LEADSPC: u32 = 1 << 20;
}

/// Actions the milter may take at end of message (`SMFIF_*`).
pub mod action {
    pub const ADDHDRS: u32 = 1 << 0;
    pub const CHGBODY: u32 = 1 << 1;
    pub const ADDRCPT: u32 = 1 << 2;
    pub const DELRCPT: u32 = 1 << 3;
    pub const CHGHDRS: u32 = 1 << 4;
    pub const QUARANTINE: u32 = 1 << 5;
    pub const CHGFROM: u32 = 1 << 6;
    pub const ADDRCPT_PAR: u32 = 1 << 7;
    pub const SETSYMLIST: u32 = 1 << 8;
}

/// The largest BODY chunk (libmilter's `MILTER_CHUNK_SIZE`).
pub const BODY_CHUNK: usize = 65_535;

/// How the SMTP client is connected (the CONNECT packet's family).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAddr {
    Inet { ip: std::net::IpAddr, port: u16 },
    Unix(String),
    Unknown,
}

/// A packet from the MTA to the milter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<'a> {
    OptNeg {
        version: u32,
        actions: u32,
        protocol: u32,
    },
    /// Macros for the command `stage` (a command byte) that follows.
    Macro {
        stage: u8,
        pairs: &'a [(String, String)],
    },
    Connect {
        hostname: &'a str,
        addr: &'a ClientAddr,
    },
    Helo(&'a str),
    /// `<address>` then the ESMTP parameters, each its own string.
    Mail(&'a [String]),
    Rcpt(&'a [String]),
    Data,
    Header {
        name: &'a str,
        value: &'a str,
    },
    Eoh,
    /// At most [`BODY_CHUNK`] octets.
    Body(&'a [u8]),
    BodyEob,
    Abort,
    Quit,
    QuitNc,
}

impl Command<'_> {
    pub fn code(&self) -> u8 {
        match self {
            Command::OptNeg { .. } => cmd::OPTNEG,
            Command::Macro { .. } => cmd::MACRO,
            Command::Connect { .. } => cmd::CONNECT,
            Command::Helo(_) => cmd::HELO,
            Command::Mail(_) => cmd::MAIL,
            Command::Rcpt(_) => cmd::RCPT,
            Command::Data => cmd::DATA,
            Command::Header { .. } => cmd::HEADER,
            Command::Eoh => cmd::EOH,
            Command::Body(_) => cmd::BODY,
            Command::BodyEob => cmd::BODYEOB,
            Command::Abort => cmd::ABORT,
            Command::Quit => cmd::QUIT,
            Command::QuitNc => cmd::QUIT_NC,
        }
    }

    /// Appends the packet to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0, 0, 0, 0, self.code()]);
        match self {
            Command::OptNeg {
                version,
                actions,
                protocol,
            } => {
                for v in [version, actions, protocol] {
                    out.extend_from_slice(&v.to_be_bytes());
                }
            }
            Command::Macro { stage, pairs } => {
                out.push(*stage);
                for (name, value) in pairs.iter() {
                    put_str(out, name);
                    put_str(out, value);
                }
            }
            Command::Connect { hostname, addr } => {
                put_str(out, hostname);
                match addr {
                    ClientAddr::Inet { ip, port } => {
                        out.push(if ip.is_ipv4() { b'4' } else { b'6' });
                        out.extend_from_slice(&port.to_be_bytes());
                        put_str(out, &ip.to_string());
                    }
                    ClientAddr::Unix(path) => {
                        out.push(b'L');
                        out.extend_from_slice(&0u16.to_be_bytes());
                        put_str(out, path);
                    }
                    ClientAddr::Unknown => out.push(b'U'),
                }
            }
            Command::Helo(name) => put_str(out, name),
            Command::Mail(args) | Command::Rcpt(args) => {
                for a in args.iter() {
                    put_str(out, a);
                }
            }
            Command::Header { name, value } => {
                put_str(out, name);
                put_str(out, value);
            }
            Command::Body(data) => out.extend_from_slice(data),
            Command::Data
            | Command::Eoh
            | Command::BodyEob
            | Command::Abort
            | Command::Quit
            | Command::QuitNc => {}
        }
        let len = u32::try_from(out.len() - start - 4).unwrap_or(u32::MAX);
        if let Some(l) = out.get_mut(start..start + 4) {
            l.copy_from_slice(&len.to_be_bytes());
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }
}

/// A string as the protocol carries it: its bytes (a NUL inside would end it early, so it is
/// cut there) and a terminating NUL.
fn put_str(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    out.extend_from_slice(b.get(..end).unwrap_or_default());
    out.push(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(c: Command<'_>) -> Vec<u8> {
        c.to_bytes()
    }

    #[test]
    fn optneg_is_three_big_endian_words() {
        let b = bytes(Command::OptNeg {
            version: 6,
            actions: 0x1ff,
            protocol: 0x1f_ffff,
        });
        assert_eq!(
            b,
            [0, 0, 0, 13, b'O', 0, 0, 0, 6, 0, 0, 1, 0xff, 0, 0x1f, 0xff, 0xff]
        );
    }

    #[test]
    fn connect_carries_family_port_and_address() {
        let addr = ClientAddr::Inet {
            ip: "192.0.2.1".parse().unwrap(),
            port: 25,
        };
        let b = bytes(Command::Connect {
            hostname: "mx.example",
            addr: &addr,
        });
        let mut want = vec![0, 0, 0, 0, b'C'];
        want.extend_from_slice(b"mx.example\0");
        want.extend_from_slice(&[b'4', 0, 25]);
        want.extend_from_slice(b"192.0.2.1\0");
        want[3] = (want.len() - 4) as u8;
        assert_eq!(b, want);
        let v6 = ClientAddr::Inet {
            ip: "::1".parse().unwrap(),
            port: 2525,
        };
        let b = bytes(Command::Connect {
            hostname: "[::1]",
            addr: &v6,
        });
        assert_eq!(&b[5..], b"[::1]\x006\x09\xdd::1\0");
        let b = bytes(Command::Connect {
            hostname: "localhost",
            addr: &ClientAddr::Unix("/run/s".into()),
        });
        assert_eq!(&b[5..], b"localhost\0L\0\0/run/s\0");
        let b = bytes(Command::Connect {
            hostname: "h",
            addr: &ClientAddr::Unknown,
        });
        assert_eq!(b, [0, 0, 0, 4, b'C', b'h', 0, b'U']);
    }

    #[test]
    fn string_commands_are_nul_terminated() {
        assert_eq!(bytes(Command::Helo("a.b")), b"\0\0\0\x05Ha.b\0");
        let args = ["<a@b>".to_string(), "SIZE=10".to_string()];
        assert_eq!(bytes(Command::Mail(&args)), b"\0\0\0\x0fM<a@b>\0SIZE=10\0");
        assert_eq!(bytes(Command::Rcpt(&args[..1])), b"\0\0\0\x07R<a@b>\0");
        assert_eq!(
            bytes(Command::Header {
                name: "Subject",
                value: "hi"
            }),
            b"\0\0\0\x0cLSubject\0hi\0"
        );
        // A NUL inside a string would shift every later field: it is cut there.
        assert_eq!(bytes(Command::Helo("a\0b")), b"\0\0\0\x03Ha\0");
    }

    #[test]
    fn macro_packet_names_its_stage() {
        let pairs = [
            ("j".to_string(), "mx.example".to_string()),
            ("{daemon_name}".to_string(), "ferrymail".to_string()),
        ];
        let b = bytes(Command::Macro {
            stage: cmd::CONNECT,
            pairs: &pairs,
        });
        assert_eq!(&b[4..], b"DCj\0mx.example\0{daemon_name}\0ferrymail\0");
        assert_eq!(b[3] as usize, b.len() - 4);
    }

    #[test]
    fn bare_commands_are_one_byte() {
        for (c, code) in [
            (Command::Data, b'T'),
            (Command::Eoh, b'N'),
            (Command::BodyEob, b'E'),
            (Command::Abort, b'A'),
            (Command::Quit, b'Q'),
            (Command::QuitNc, b'K'),
        ] {
            assert_eq!(bytes(c), [0, 0, 0, 1, code]);
        }
        assert_eq!(bytes(Command::Body(b"x\r\n")), b"\0\0\0\x04Bx\r\n");
    }
}
