//! The server's words (RFC 5804 §1.3, §4): `OK`, `NO` and `BYE` with an optional response
//! code and a human-readable string, strings as quoted strings or `{N}` literals, and the
//! capability listing.

/// Response codes the server uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    /// A quota would be exceeded: `QUOTA/MAXSCRIPTS`, `QUOTA/MAXSIZE` or plain `QUOTA`.
    QuotaMaxScripts,
    QuotaMaxSize,
    Quota,
    NonExistent,
    Active,
    AlreadyExists,
    Warnings,
    TransitionNeeded,
    TryLater,
    /// `ENCRYPT-NEEDED`: log in over TLS first.
    EncryptNeeded,
    /// `TAG "..."`: the NOOP tag echoed.
    Tag(Vec<u8>),
}

impl Code {
    fn write(&self, out: &mut Vec<u8>) {
        let name = match self {
            Code::QuotaMaxScripts => "QUOTA/MAXSCRIPTS",
            Code::QuotaMaxSize => "QUOTA/MAXSIZE",
            Code::Quota => "QUOTA",
            Code::NonExistent => "NONEXISTENT",
            Code::Active => "ACTIVE",
            Code::AlreadyExists => "ALREADYEXISTS",
            Code::Warnings => "WARNINGS",
            Code::TransitionNeeded => "TRANSITION-NEEDED",
            Code::TryLater => "TRYLATER",
            Code::EncryptNeeded => "ENCRYPT-NEEDED",
            Code::Tag(tag) => {
                out.extend_from_slice(b"(TAG ");
                string(out, tag);
                out.push(b')');
                return;
            }
        };
        out.push(b'(');
        out.extend_from_slice(name.as_bytes());
        out.push(b')');
    }
}

/// The three reply kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ok,
    No,
    Bye,
}

/// `KIND [(CODE)] "text"` CRLF, appended to `out`.
pub fn reply(out: &mut Vec<u8>, kind: Kind, code: Option<&Code>, text: &str) {
    out.extend_from_slice(match kind {
        Kind::Ok => b"OK",
        Kind::No => b"NO",
        Kind::Bye => b"BYE",
    });
    if let Some(code) = code {
        out.push(b' ');
        code.write(out);
    }
    if !text.is_empty() {
        out.push(b' ');
        string(out, text.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

pub fn ok(out: &mut Vec<u8>, text: &str) {
    reply(out, Kind::Ok, None, text)
}

pub fn no(out: &mut Vec<u8>, code: Option<Code>, text: &str) {
    reply(out, Kind::No, code.as_ref(), text)
}

pub fn bye(out: &mut Vec<u8>, text: &str) {
    reply(out, Kind::Bye, None, text)
}

/// A string: quoted when it can be (short, no CR, LF or NUL), else a literal.
pub fn string(out: &mut Vec<u8>, s: &[u8]) {
    if s.len() <= crate::command::MAX_QUOTED && !s.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)) {
        out.push(b'"');
        for &b in s {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        literal(out, s);
    }
}

/// `{N}` CRLF and the octets (server literals are never `+`).
pub fn literal(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(format!("{{{}}}\r\n", s.len()).as_bytes());
    out.extend_from_slice(s);
}

/// What the server announces (RFC 5804 §1.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    pub implementation: String,
    /// SASL mechanisms offered now (empty before TLS when passwords need TLS).
    pub sasl: Vec<&'static str>,
    pub sieve: Vec<&'static str>,
    pub starttls: bool,
    pub max_redirects: usize,
    /// The login, once authenticated (`OWNER`).
    pub owner: Option<String>,
}

/// The capability lines followed by `OK`.
pub fn capabilities(out: &mut Vec<u8>, c: &Capabilities) {
    let mut line = |name: &str, value: Option<&str>| {
        string(out, name.as_bytes());
        if let Some(v) = value {
            out.push(b' ');
            string(out, v.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    };
    line("IMPLEMENTATION", Some(&c.implementation));
    line("SASL", Some(&c.sasl.join(" ")));
    line("SIEVE", Some(&c.sieve.join(" ")));
    if c.starttls {
        line("STARTTLS", None);
    }
    line("MAXREDIRECTS", Some(&c.max_redirects.to_string()));
    if let Some(owner) = &c.owner {
        line("OWNER", Some(owner));
    }
    line("UNAUTHENTICATE", None);
    line("VERSION", Some("1.0"));
    ok(out, "");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn replies_with_codes_and_escaped_strings() {
        assert_eq!(text(|o| ok(o, "")), "OK\r\n");
        assert_eq!(
            text(|o| no(o, Some(Code::QuotaMaxSize), "too \"big\"")),
            "NO (QUOTA/MAXSIZE) \"too \\\"big\\\"\"\r\n"
        );
        assert_eq!(
            text(|o| reply(o, Kind::Ok, Some(&Code::Tag(b"t1".to_vec())), "Done")),
            "OK (TAG \"t1\") \"Done\"\r\n"
        );
        assert_eq!(
            text(|o| no(o, Some(Code::Active), "line 1\nline 2")),
            "NO (ACTIVE) {13}\r\nline 1\nline 2\r\n"
        );
        assert_eq!(text(|o| bye(o, "bye")), "BYE \"bye\"\r\n");
    }

    #[test]
    fn capability_listing() {
        let caps = Capabilities {
            implementation: "ferrymail".into(),
            sasl: vec!["PLAIN", "LOGIN"],
            sieve: vec!["fileinto", "envelope"],
            starttls: true,
            max_redirects: 4,
            owner: None,
        };
        assert_eq!(
            text(|o| capabilities(o, &caps)),
            "\"IMPLEMENTATION\" \"ferrymail\"\r\n\"SASL\" \"PLAIN LOGIN\"\r\n\
             \"SIEVE\" \"fileinto envelope\"\r\n\"STARTTLS\"\r\n\"MAXREDIRECTS\" \"4\"\r\n\
             \"UNAUTHENTICATE\"\r\n\"VERSION\" \"1.0\"\r\nOK\r\n"
        );
    }
}
