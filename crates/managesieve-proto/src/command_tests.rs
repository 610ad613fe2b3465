use super::*;

#[test]
fn commands_with_atoms_quoted_strings_and_literals() {
    assert_eq!(parse(b"capability\r\n"), Ok(Command::Capability));
    assert_eq!(parse(b"Logout\n"), Ok(Command::Logout));
    assert_eq!(
        parse(b"AUTHENTICATE \"PLAIN\" \"AGpvZQBwdw==\"\r\n"),
        Ok(Command::Authenticate {
            mechanism: "PLAIN".into(),
            initial: Some(b"AGpvZQBwdw==".to_vec())
        })
    );
    assert_eq!(
        parse(b"PUTSCRIPT \"my \\\"x\\\\\" {7+}\r\nkeep;\r\n\r\n"),
        Ok(Command::PutScript {
            name: "my \"x\\".into(),
            script: b"keep;\r\n".to_vec()
        })
    );
    assert_eq!(
        parse(b"PUTSCRIPT {1}\r\na {0+}\r\n\r\n"),
        Ok(Command::PutScript {
            name: "a".into(),
            script: Vec::new()
        })
    );
    assert_eq!(
        parse(b"HAVESPACE \"s\" 1234\r\n"),
        Ok(Command::HaveSpace("s".into(), 1234))
    );
    assert_eq!(
        parse(b"RENAMESCRIPT \"a\" \"b\"\r\n"),
        Ok(Command::RenameScript("a".into(), "b".into()))
    );
    assert_eq!(
        parse(b"NOOP \"tag\"\r\n"),
        Ok(Command::Noop(Some(b"tag".to_vec())))
    );
    assert_eq!(
        parse(b"SETACTIVE \"\"\r\n"),
        Ok(Command::SetActive(String::new()))
    );
}

#[test]
fn malformed_commands_are_errors_not_panics() {
    assert_eq!(parse(b"\r\n"), Err(ParseError::Empty));
    assert_eq!(parse(b"FROB\r\n"), Err(ParseError::Unknown));
    for bad in [
        &b"GETSCRIPT\r\n"[..],
        b"GETSCRIPT \"a\" \"b\"\r\n",
        b"GETSCRIPT \"unterminated\r\n",
        b"GETSCRIPT \"bad\\escape\"\r\n",
        b"GETSCRIPT {5+}\r\nab\r\n",
        b"GETSCRIPT \"a\"\"b\"\r\n",
        b"GETSCRIPT \"\xff\"\r\n",
        b"HAVESPACE \"a\" -1\r\n",
        b"HAVESPACE \"a\" \"12\"\r\n",
        b"NOOP",
        b"\"CAPABILITY\"\r\n",
    ] {
        assert!(
            matches!(parse(bad), Err(ParseError::Syntax(_))),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    let long = format!("GETSCRIPT \"{}\"\r\n", "a".repeat(MAX_QUOTED + 1));
    assert!(parse(long.as_bytes()).is_err());
}

#[test]
fn sasl_responses_are_one_string() {
    assert_eq!(
        parse_sasl_response(b"\"dGVzdA==\"\r\n"),
        Ok(b"dGVzdA==".to_vec())
    );
    assert_eq!(
        parse_sasl_response(b"{4+}\r\nabcd\r\n"),
        Ok(b"abcd".to_vec())
    );
    assert_eq!(parse_sasl_response(b"\"*\"\r\n"), Ok(b"*".to_vec()));
    assert!(parse_sasl_response(b"dGVzdA==\r\n").is_err());
    assert!(parse_sasl_response(b"\"a\" \"b\"\r\n").is_err());
}
