//! Makes the milters' changes: sender and recipients in the envelope; header fields and the
//! body by writing the message again into the same spool file (new header section, then the
//! old body copied or the replacement body), so the queue id the Received header names stays.

use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};

use ferrymail_milter::content::{Field, Part, Splitter};
use ferrymail_milter::edit::{self, HeaderEdit};
use ferrymail_milter::Edit;
use ferrymail_spool::{Envelope, Recipient, SpoolWriter};

use super::macros::bare_address;

/// Applies sender and recipient changes; invalid addresses are logged and ignored.
pub fn envelope(env: &mut Envelope, edits: &[Edit]) {
    for e in edits {
        match e {
            Edit::ChgFrom { from, args } => {
                let a = bare_address(from);
                if a.is_empty() {
                    env.sender = None;
                } else if ferrymail_spool::validate_address(&a, env.smtputf8).is_ok() {
                    env.sender = Some(a);
                } else {
                    tracing::warn!(address = %a, "milter gave an invalid sender; ignored");
                    continue;
                }
                if args.is_some() {
                    tracing::info!("milter's sender parameters ignored");
                }
            }
            Edit::AddRcpt(rcpt) | Edit::AddRcptPar { rcpt, .. } => {
                let a = bare_address(rcpt);
                if ferrymail_spool::validate_address(&a, env.smtputf8).is_err() {
                    tracing::warn!(address = %a, "milter added an invalid recipient; ignored");
                    continue;
                }
                if !env
                    .recipients
                    .iter()
                    .any(|r| r.address.eq_ignore_ascii_case(&a))
                {
                    env.recipients.push(Recipient::new(a));
                }
            }
            Edit::DelRcpt(rcpt) => {
                let a = bare_address(rcpt);
                env.recipients
                    .retain(|r| !r.address.eq_ignore_ascii_case(&a));
            }
            Edit::AddHeader { .. } | Edit::ChgHeader { .. } | Edit::InsHeader { .. } => {}
        }
    }
}

/// Writes the message again with the header edits applied and, if given, the replacement
/// body. `hidden`: where our Received header is among the fields; returns where it is
/// afterwards. Blocking: run it on a blocking thread.
pub fn rewrite(
    writer: &mut SpoolWriter,
    headers: &[HeaderEdit],
    body: Option<std::fs::File>,
    hidden: Option<usize>,
) -> Result<Option<usize>, RewriteError> {
    let mut old = writer.read_back()?;
    let (mut fields, body_offset) = read_header(&mut old)?;
    let hidden = edit::apply(&mut fields, headers, hidden);
    writer.replace_content(|out| {
        for f in &fields {
            out.write_all(&f.raw)?;
        }
        out.write_all(b"\r\n")?;
        match body {
            Some(mut b) => {
                b.seek(SeekFrom::Start(0))?;
                io::copy(&mut b, out)?;
            }
            None => {
                old.seek(SeekFrom::Start(body_offset))?;
                io::copy(&mut old, out)?;
            }
        }
        Ok(())
    })?;
    Ok(hidden)
}

#[derive(Debug, thiserror::Error)]
pub enum RewriteError {
    #[error(transparent)]
    Spool(#[from] ferrymail_spool::SpoolError),
    #[error("reading the message: {0}")]
    Read(#[from] io::Error),
}

/// The header fields of a message and where its body starts. The header section is held in
/// memory (it is bounded by the message size limit); the body never is.
fn read_header(file: &mut std::fs::File) -> io::Result<(Vec<Field>, u64)> {
    file.seek(SeekFrom::Start(0))?;
    let mut splitter = Splitter::new(usize::MAX);
    let mut fields = Vec::new();
    let mut parts = Vec::new();
    let mut r = BufReader::new(Read::by_ref(file));
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = r.read_until(b'\n', &mut line)?;
        if n == 0 {
            splitter.finish(&mut parts);
        } else {
            splitter.feed(&line, &mut parts);
        }
        let mut done = n == 0;
        for p in parts.drain(..) {
            match p {
                Part::Header(f) => fields.push(f),
                Part::Eoh | Part::Body(_) => done = true,
            }
        }
        if done {
            return Ok((fields, splitter.body_offset()));
        }
    }
}
