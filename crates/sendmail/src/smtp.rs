//! `sendmail -bs`: an SMTP conversation on stdin/stdout, for programs that prefer to speak SMTP
//! to a local command (some MUAs and test tools do). The caller is a local user, so this is
//! submission without AUTH: each message goes into maildrop/ exactly like `sendmail -t`.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use ferrymail_config::Config;
use ferrymail_smtp::{parse_command, Command, DataDecoder, LineEndingPolicy, Path, Reply};
use ferrymail_spool::{ClientInfo, Envelope, Recipient, Source};

struct Transaction {
    sender: Option<String>,
    recipients: Vec<String>,
}

pub fn run(program: &str, config: &Config) -> ExitCode {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut out = std::io::stdout().lock();
    match session(config, &mut input, &mut out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{program}: {e}");
            ExitCode::from(super::EX_TEMPFAIL)
        }
    }
}

fn send(out: &mut impl Write, r: Reply) -> std::io::Result<()> {
    out.write_all(&r.to_bytes())?;
    out.flush()
}

/// Runs one SMTP session; generic over the streams so it can be tested in memory.
pub fn session<R: BufRead>(
    config: &Config,
    input: &mut R,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let host = config.hostname();
    let origin = super::origin(config);
    send(
        out,
        Reply::plain(220, format!("{host} ESMTP ferrymail (sendmail -bs)")),
    )?;
    let mut tx: Option<Transaction> = None;
    let mut greeted = false;
    let mut line = Vec::new();
    loop {
        line.clear();
        // Bounded like mta-smtpd's command lines.
        let limit = config.smtpd.max_command_line as u64 + 1;
        let n = <&mut R as std::io::Read>::take(&mut *input, limit).read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(());
        }
        if !line.ends_with(b"\n") {
            send(out, Reply::new(500, "5.5.2", "Line too long"))?;
            // Skip the rest of the over-long line.
            let mut rest = Vec::new();
            input.read_until(b'\n', &mut rest)?;
            continue;
        }
        let cmd = match parse_command(&line) {
            Ok(c) => c,
            Err(e) => {
                send(out, e.reply())?;
                continue;
            }
        };
        match cmd {
            Command::Ehlo(_) => {
                greeted = true;
                tx = None;
                let lines = vec![
                    host.clone(),
                    "PIPELINING".into(),
                    format!("SIZE {}", config.smtpd.max_message_size),
                    "8BITMIME".into(),
                    "ENHANCEDSTATUSCODES".into(),
                ];
                send(out, Reply::multiline(250, None, lines))?;
            }
            Command::Helo(_) => {
                greeted = true;
                tx = None;
                send(out, Reply::plain(250, host.clone()))?;
            }
            Command::Mail { from, params } => {
                if !greeted {
                    send(out, Reply::new(503, "5.5.1", "Send EHLO first"))?;
                } else if tx.is_some() {
                    send(out, Reply::new(503, "5.5.1", "Nested MAIL command"))?;
                } else if params
                    .size
                    .is_some_and(|s| s > config.smtpd.max_message_size)
                {
                    send(out, Reply::new(552, "5.3.4", "Message size exceeds limit"))?;
                } else {
                    let sender = match from {
                        Path::Null => None,
                        Path::Mailbox(m) => Some(m),
                    };
                    tx = Some(Transaction {
                        sender,
                        recipients: Vec::new(),
                    });
                    send(out, Reply::new(250, "2.1.0", "Ok"))?;
                }
            }
            Command::Rcpt { to, .. } => match tx.as_mut() {
                None => send(out, Reply::new(503, "5.5.1", "Need MAIL command"))?,
                Some(t) if t.recipients.len() >= config.smtpd.max_recipients => {
                    send(out, Reply::new(452, "4.5.3", "Too many recipients"))?
                }
                Some(t) => {
                    t.recipients.push(super::qualify(&to, &origin));
                    send(out, Reply::new(250, "2.1.5", "Ok"))?;
                }
            },
            Command::Data => {
                let Some(t) = tx.take().filter(|t| !t.recipients.is_empty()) else {
                    send(out, Reply::new(503, "5.5.1", "Need RCPT command"))?;
                    continue;
                };
                send(out, Reply::plain(354, "End data with <CR><LF>.<CR><LF>"))?;
                let reply = read_data_and_submit(config, input, t)?;
                send(out, reply)?;
            }
            Command::Rset => {
                tx = None;
                send(out, Reply::new(250, "2.0.0", "Ok"))?;
            }
            Command::Noop => send(out, Reply::new(250, "2.0.0", "Ok"))?,
            Command::Quit => {
                send(out, Reply::new(221, "2.0.0", "Bye"))?;
                return Ok(());
            }
            Command::Vrfy(_) => send(out, Reply::new(252, "2.5.2", "Cannot VRFY user"))?,
            Command::Expn(_) => send(out, Reply::new(502, "5.5.1", "EXPN not available"))?,
            Command::Help => send(out, Reply::new(214, "2.0.0", "See RFC 5321"))?,
            Command::Lhlo(_) | Command::Bdat { .. } | Command::StartTls | Command::Auth { .. } => {
                send(
                    out,
                    Reply::new(502, "5.5.1", "Command not implemented here"),
                )?
            }
        }
    }
}

fn read_data_and_submit(
    config: &Config,
    input: &mut impl BufRead,
    t: Transaction,
) -> std::io::Result<Reply> {
    let mut decoder = DataDecoder::new(
        LineEndingPolicy::Normalize,
        config.smtpd.max_message_size,
        usize::MAX,
    );
    let mut msg = Vec::new();
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "input ended inside DATA",
            ));
        }
        match decoder.feed(buf, &mut msg) {
            Some(used) => {
                input.consume(used);
                break;
            }
            None => {
                let n = buf.len();
                input.consume(n);
            }
        }
    }
    if decoder.outcome().too_big {
        return Ok(Reply::new(552, "5.3.4", "Message size exceeds limit"));
    }
    let envelope = Envelope::new(
        t.sender,
        t.recipients.iter().map(Recipient::new).collect(),
        ClientInfo {
            protocol: "local".into(),
            ..ClientInfo::default()
        },
        Source::Sendmail {
            uid: nix::unistd::getuid().as_raw(),
        },
    );
    Ok(match super::submit(config, envelope, &msg) {
        Ok(id) => Reply::new(250, "2.0.0", format!("Ok: queued as {id}")),
        Err(e) => Reply::new(451, "4.3.0", format!("Cannot queue: {e}")),
    })
}
