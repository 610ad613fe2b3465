//! Mailbox syntax checks for envelope addresses (RFC 5321 `Mailbox`, RFC 6531 when SMTPUTF8).
//!
//! Used by pickup to refuse maildrop files whose addresses could not be put on an SMTP wire,
//! and available to the sendmail command and mta-smtpd so all three agree.

/// Why an address is not a valid envelope mailbox.
pub type AddressProblem = &'static str;

const MAX_LOCAL: usize = 64;
const MAX_DOMAIN: usize = 255;
/// RFC 5321 4.5.3.1.3: a path is at most 256 octets including the angle brackets.
const MAX_ADDRESS: usize = 254;

fn is_atext(c: char, utf8: bool) -> bool {
    c.is_ascii_alphanumeric()
        || "!#$%&'*+-/=?^_`{|}~".contains(c)
        || (utf8 && !c.is_ascii() && !c.is_control())
}

fn check_local(local: &str, utf8: bool) -> Result<(), AddressProblem> {
    if local.is_empty() {
        return Err("empty local part");
    }
    if local.len() > MAX_LOCAL {
        return Err("local part too long");
    }
    if let Some(inner) = local.strip_prefix('"') {
        let Some(inner) = inner.strip_suffix('"') else {
            return Err("unterminated quoted local part");
        };
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(q) if (' '..='~').contains(&q) => {}
                    _ => return Err("bad quoted pair"),
                },
                '"' => return Err("unescaped quote"),
                c if (' '..='~').contains(&c) => {}
                c if utf8 && !c.is_ascii() && !c.is_control() => {}
                _ => return Err("bad character in quoted local part"),
            }
        }
        return Ok(());
    }
    for atom in local.split('.') {
        if atom.is_empty() {
            return Err("empty atom in local part");
        }
        if !atom.chars().all(|c| is_atext(c, utf8)) {
            return Err("bad character in local part");
        }
    }
    Ok(())
}

fn check_domain(domain: &str, utf8: bool) -> Result<(), AddressProblem> {
    if domain.is_empty() {
        return Err("empty domain");
    }
    if domain.len() > MAX_DOMAIN {
        return Err("domain too long");
    }
    if let Some(lit) = domain.strip_prefix('[') {
        let Some(lit) = lit.strip_suffix(']') else {
            return Err("unterminated address literal");
        };
        if lit.is_empty()
            || !lit
                .chars()
                .all(|c| ('!'..='~').contains(&c) && !"[]\\".contains(c))
        {
            return Err("bad address literal");
        }
        return Ok(());
    }
    for label in domain.split('.') {
        if label.is_empty() {
            return Err("empty domain label");
        }
        if label.len() > 63 {
            return Err("domain label too long");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("domain label starts or ends with '-'");
        }
        let ok = label.chars().all(|c| {
            c.is_ascii_alphanumeric() || c == '-' || (utf8 && !c.is_ascii() && c.is_alphanumeric())
        });
        if !ok {
            return Err("bad character in domain");
        }
    }
    Ok(())
}

/// Check that `address` is `local-part@domain` as RFC 5321 allows in MAIL FROM / RCPT TO
/// (without the angle brackets). Non-ASCII is allowed only when `smtputf8` is set.
pub fn validate_address(address: &str, smtputf8: bool) -> Result<(), AddressProblem> {
    if address.len() > MAX_ADDRESS {
        return Err("address too long");
    }
    if !smtputf8 && !address.is_ascii() {
        return Err("non-ASCII address without SMTPUTF8");
    }
    let Some((local, domain)) = address.rsplit_once('@') else {
        return Err("missing @domain");
    };
    check_local(local, smtputf8)?;
    check_domain(domain, smtputf8)
}

#[cfg(test)]
mod tests {
    use super::validate_address;

    #[test]
    fn accepts_ordinary_and_quoted_mailboxes() {
        for good in [
            "user@example.org",
            "first.last+tag@sub.example.co.uk",
            "\"john doe\"@example.org",
            "\"a\\\"b\"@example.org",
            "postmaster@[192.0.2.1]",
            "x@[IPv6:2001:db8::1]",
            "o'neil@example.org",
        ] {
            assert_eq!(validate_address(good, false), Ok(()), "{good}");
        }
        assert_eq!(validate_address("ĉarlo@ekzemplo.eo", true), Ok(()));
        assert_eq!(validate_address("user@bücher.de", true), Ok(()));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "user",
            "@example.org",
            "user@",
            "us er@example.org",
            "user@exa mple.org",
            ".user@example.org",
            "user.@example.org",
            "us..er@example.org",
            "user@example..org",
            "user@-example.org",
            "user@example.org.",
            "<user@example.org>",
            "user@example.org\r\nRCPT TO:<x@y>",
            "user\0@example.org",
            "\"unterminated@example.org",
            "user@[unterminated",
            "ĉarlo@ekzemplo.eo",
        ] {
            assert!(validate_address(bad, false).is_err(), "{bad:?} accepted");
        }
        let long_local = format!("{}@example.org", "a".repeat(65));
        assert!(validate_address(&long_local, false).is_err());
        let long = format!("a@{}.org", "b".repeat(260));
        assert!(validate_address(&long, false).is_err());
    }
}
