//! How mailbox names travel on the wire: modified UTF-7 (RFC 3501 §5.1.3) until the client
//! enables IMAP4rev2 (RFC 9051 §5.1) or UTF8=ACCEPT (RFC 6855 §3), UTF-8 from then on, both
//! ways. The parser and the encoder take the session's choice; names inside are always UTF-8.

use crate::utf7;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NameEncoding {
    #[default]
    ModifiedUtf7,
    Utf8,
}

/// Why a wire name is not a name in the session's encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("mailbox name is not valid modified UTF-7")]
    ModifiedUtf7,
    #[error("mailbox name is not UTF-8")]
    Utf8,
}

impl NameEncoding {
    /// A name as the client sent it, to UTF-8. In UTF-8 mode `&` is just a character, so a
    /// name is taken as it is; it must be UTF-8 all the same.
    pub fn decode(self, wire: &[u8]) -> Result<String, NameError> {
        match self {
            NameEncoding::ModifiedUtf7 => utf7::decode(wire).map_err(|_| NameError::ModifiedUtf7),
            NameEncoding::Utf8 => String::from_utf8(wire.to_vec()).map_err(|_| NameError::Utf8),
        }
    }

    /// A name for the wire: quoted (UTF-8 is allowed in a quoted string once UTF-8 names
    /// are on, RFC 9051 §4.3), or a literal for what no quoted string can carry.
    pub fn encode(self, out: &mut Vec<u8>, name: &str) {
        match self {
            NameEncoding::ModifiedUtf7 => crate::encode::string(out, utf7::encode(name).as_bytes()),
            NameEncoding::Utf8 => crate::encode::utf8_string(out, name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::NameEncoding::*;

    fn enc(e: super::NameEncoding, name: &str) -> Vec<u8> {
        let mut out = Vec::new();
        e.encode(&mut out, name);
        out
    }

    #[test]
    fn utf8_names_are_quoted_as_they_are() {
        assert_eq!(enc(Utf8, "台北&x"), "\"台北&x\"".as_bytes());
        assert_eq!(enc(ModifiedUtf7, "台北&x"), b"\"&U,BTFw-&-x\"");
        assert_eq!(enc(Utf8, "a\"b"), b"\"a\\\"b\"");
        assert_eq!(enc(Utf8, "a\nb"), b"{3}\r\na\nb");
    }

    #[test]
    fn commands_read_names_in_the_sessions_encoding() {
        use crate::command::Command;
        use crate::parse::parse_command_with;
        let select = |e, line: &str| match parse_command_with(line.as_bytes(), e) {
            Ok((_, Command::Select(name))) => name,
            other => panic!("{other:?}"),
        };
        assert_eq!(select(Utf8, "a SELECT \"R&-D\""), "R&-D");
        assert_eq!(select(ModifiedUtf7, "a SELECT \"R&-D\""), "R&D");
        assert_eq!(select(Utf8, "a SELECT {6}\r\n台北"), "台北");
        match parse_command_with("a LIST \"\" \"台*\"".as_bytes(), Utf8) {
            Ok((_, Command::List { pattern, .. })) => assert_eq!(pattern, "台*"),
            other => panic!("{other:?}"),
        }
        let err = parse_command_with(b"a DELETE \"caf\xe9\"", Utf8).unwrap_err();
        assert_eq!(err.kind, crate::parse::ErrorKind::InvalidMailboxName);
    }

    #[test]
    fn responses_write_names_in_the_sessions_encoding() {
        use crate::response::{Data, ListItem, Response};
        let list = Response::Data(Data::List(ListItem {
            attrs: vec!["\\HasNoChildren".into()],
            delimiter: Some('/'),
            mailbox: "台北&".into(),
            childinfo: Vec::new(),
        }));
        let mut out = Vec::new();
        list.encode_with(&mut out, Utf8);
        assert_eq!(
            out,
            "* LIST (\\HasNoChildren) \"/\" \"台北&\"\r\n".as_bytes()
        );
        assert_eq!(
            list.to_bytes(),
            b"* LIST (\\HasNoChildren) \"/\" \"&U,BTFw-&-\"\r\n"
        );
    }

    #[test]
    fn utf8_names_are_taken_as_they_are() {
        assert_eq!(Utf8.decode("台北&-".as_bytes()).unwrap(), "台北&-");
        assert_eq!(ModifiedUtf7.decode(b"&-").unwrap(), "&");
        assert!(Utf8.decode(b"caf\xe9").is_err());
        assert!(ModifiedUtf7.decode("café".as_bytes()).is_err());
    }
}
