//! sendmail's traditional command line, which predates getopt conventions (`-oi`, `-fuser`,
//! `-f user`, `-bm`, `-oXvalue` …). Parsing is separate from acting so it can be tested alone.

use std::path::PathBuf;

/// What the invocation asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// `-bm` (default): read a message from stdin and queue it.
    Deliver,
    /// `-bs`: speak SMTP on stdin/stdout.
    Smtp,
    /// `-bp` or invoked as `mailq`: list the queue.
    ListQueue,
    /// `-bi` or invoked as `newaliases`: check the aliases file.
    Newaliases,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub mode: Mode,
    /// `-t`: take recipients from To/Cc/Bcc.
    pub recipients_from_headers: bool,
    /// `-f`: envelope sender; `Some("")` is the null sender.
    pub sender: Option<String>,
    /// `-F`: full name for a generated From: header.
    pub full_name: Option<String>,
    /// `-i` / `-oi`: a line with a single dot does not end the message.
    pub ignore_dots: bool,
    pub verbose: bool,
    /// `-C` (or `FERRYMAIL_CONFIG`): configuration file.
    pub config: Option<PathBuf>,
    pub recipients: Vec<String>,
    /// Options accepted for compatibility and ignored, reported with `-v`.
    pub ignored: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgError {
    #[error("option {0} requires an argument")]
    MissingValue(String),
    #[error("unsupported option {0}")]
    Unsupported(String),
}

/// Parses `args` (without argv[0]); `program` is argv[0]'s file name (mailq, newaliases, …).
pub fn parse(program: &str, args: &[String]) -> Result<Invocation, ArgError> {
    let mut inv = Invocation {
        mode: match program {
            "mailq" => Mode::ListQueue,
            "newaliases" => Mode::Newaliases,
            _ => Mode::Deliver,
        },
        recipients_from_headers: false,
        sender: None,
        full_name: None,
        ignore_dots: false,
        verbose: false,
        config: None,
        recipients: Vec::new(),
        ignored: Vec::new(),
    };
    let mut i = 0;
    // A value either glued to the flag (`-fjoe`) or in the next argument (`-f joe`).
    let value = |flag: &str, arg: &str, i: &mut usize| -> Result<String, ArgError> {
        if arg.len() > flag.len() {
            return Ok(arg[flag.len()..].to_owned());
        }
        *i += 1;
        args.get(*i)
            .cloned()
            .ok_or_else(|| ArgError::MissingValue(flag.to_owned()))
    };
    while i < args.len() {
        let arg = args[i].as_str();
        if arg == "--" {
            inv.recipients.extend(args[i + 1..].iter().cloned());
            break;
        }
        if !arg.starts_with('-') || arg == "-" {
            inv.recipients.push(arg.to_owned());
            i += 1;
            continue;
        }
        match arg {
            "-t" => inv.recipients_from_headers = true,
            "-i" | "-oi" => inv.ignore_dots = true,
            "-v" => inv.verbose = true,
            "-bm" => inv.mode = Mode::Deliver,
            "-bs" => inv.mode = Mode::Smtp,
            "-bp" => inv.mode = Mode::ListQueue,
            "-bi" | "-I" => inv.mode = Mode::Newaliases,
            _ if arg.starts_with("-f") || arg.starts_with("-r") => {
                let flag = &arg[..2];
                let v = value(flag, arg, &mut i)?;
                let v = v.trim();
                let v = v
                    .strip_prefix('<')
                    .and_then(|s| s.strip_suffix('>'))
                    .unwrap_or(v);
                inv.sender = Some(v.to_owned());
            }
            _ if arg.starts_with("-F") => inv.full_name = Some(value("-F", arg, &mut i)?),
            _ if arg.starts_with("-C") => inv.config = Some(value("-C", arg, &mut i)?.into()),
            // -oX options (queue modes, error modes, …), -B body type, -N DSN, -R ret, -V envid,
            // -X log file, -q queue runs, -L label: understood by other MTAs, meaningless here.
            _ if arg.starts_with("-o")
                || arg.starts_with("-B")
                || arg.starts_with("-N")
                || arg.starts_with("-R")
                || arg.starts_with("-V")
                || arg.starts_with("-L") =>
            {
                let flag = &arg[..2];
                if arg.len() == 2 && matches!(flag, "-B" | "-N" | "-R" | "-V" | "-L") {
                    i += 1;
                }
                inv.ignored.push(arg.to_owned());
            }
            "-em" | "-ep" | "-eq" | "-m" | "-n" | "-U" | "-G" => inv.ignored.push(arg.to_owned()),
            _ => return Err(ArgError::Unsupported(arg.to_owned())),
        }
        i += 1;
    }
    Ok(inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(program: &str, args: &[&str]) -> Invocation {
        parse(
            program,
            &args.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
        .unwrap()
    }

    #[test]
    fn common_invocations() {
        let i = p(
            "sendmail",
            &["-t", "-oi", "-f", "cron@a.test", "-F", "Cron Daemon"],
        );
        assert!(i.recipients_from_headers && i.ignore_dots);
        assert_eq!(i.sender.as_deref(), Some("cron@a.test"));
        assert_eq!(i.full_name.as_deref(), Some("Cron Daemon"));
        let i = p(
            "sendmail",
            &["-i", "-fgit@a.test", "joe@b.test", "ann@c.test"],
        );
        assert_eq!(i.sender.as_deref(), Some("git@a.test"));
        assert_eq!(i.recipients, vec!["joe@b.test", "ann@c.test"]);
        assert_eq!(
            p("sendmail", &["-f", "<>", "x@y.test"]).sender.as_deref(),
            Some("")
        );
        assert_eq!(p("sendmail", &["-bs"]).mode, Mode::Smtp);
        assert_eq!(p("sendmail", &["-bp"]).mode, Mode::ListQueue);
        assert_eq!(p("mailq", &[]).mode, Mode::ListQueue);
        assert_eq!(p("newaliases", &[]).mode, Mode::Newaliases);
        assert_eq!(p("sendmail", &["-bi"]).mode, Mode::Newaliases);
        let i = p("sendmail", &["-odi", "-oem", "-B", "8BITMIME", "x@y.test"]);
        assert_eq!(i.ignored, vec!["-odi", "-oem", "-B"]);
        assert_eq!(i.recipients, vec!["x@y.test"]);
        let i = p("sendmail", &["-C", "/tmp/f.toml", "--", "-odd@y.test"]);
        assert_eq!(i.config, Some(PathBuf::from("/tmp/f.toml")));
        assert_eq!(i.recipients, vec!["-odd@y.test"]);
    }

    #[test]
    fn errors() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse("sendmail", &v(&["-f"])),
            Err(ArgError::MissingValue("-f".into()))
        );
        assert_eq!(
            parse("sendmail", &v(&["-Z"])),
            Err(ArgError::Unsupported("-Z".into()))
        );
    }
}
