//! SASL PLAIN (RFC 4616) and LOGIN decoding, shared by SMTP AUTH, POP3 AUTH and IMAP
//! AUTHENTICATE. Only decoding lives here; verifying the password is the user database's job.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// Decoded credentials. `Debug` hides the password so it can never reach a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Identity to act as; empty means "the same as authcid".
    pub authzid: String,
    pub authcid: String,
    pub password: Vec<u8>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("authzid", &self.authzid)
            .field("authcid", &self.authcid)
            .field("password", &"<hidden>")
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    #[error("invalid base64")]
    Base64,
    #[error("malformed PLAIN message")]
    Malformed,
    /// The client sent `*` (RFC 4954 §4).
    #[error("authentication cancelled")]
    Cancelled,
}

/// Decodes a base64 client response; `*` cancels, `=` is an empty response.
pub fn decode_response(line: &str) -> Result<Vec<u8>, SaslError> {
    let line = line.trim();
    if line == "*" {
        return Err(SaslError::Cancelled);
    }
    if line == "=" {
        return Ok(Vec::new());
    }
    STANDARD.decode(line).map_err(|_| SaslError::Base64)
}

pub fn encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// `authzid NUL authcid NUL passwd` (already base64-decoded).
pub fn parse_plain(msg: &[u8]) -> Result<Credentials, SaslError> {
    let mut parts = msg.split(|&b| b == 0);
    let (Some(authzid), Some(authcid), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::Malformed);
    };
    let authzid = std::str::from_utf8(authzid).map_err(|_| SaslError::Malformed)?;
    let authcid = std::str::from_utf8(authcid).map_err(|_| SaslError::Malformed)?;
    if authcid.is_empty() || authcid.len() > 255 || password.len() > 1024 {
        return Err(SaslError::Malformed);
    }
    Ok(Credentials {
        authzid: authzid.to_owned(),
        authcid: authcid.to_owned(),
        password: password.to_vec(),
    })
}

/// The two LOGIN prompts, base64 of "Username:" and "Password:".
pub const LOGIN_USERNAME_PROMPT: &str = "VXNlcm5hbWU6";
pub const LOGIN_PASSWORD_PROMPT: &str = "UGFzc3dvcmQ6";

/// Builds credentials from LOGIN's two decoded responses.
pub fn login_credentials(user: &[u8], password: &[u8]) -> Result<Credentials, SaslError> {
    let user = std::str::from_utf8(user).map_err(|_| SaslError::Malformed)?;
    if user.is_empty() || user.len() > 255 || password.len() > 1024 {
        return Err(SaslError::Malformed);
    }
    Ok(Credentials {
        authzid: String::new(),
        authcid: user.to_owned(),
        password: password.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_round_trip() {
        let wire = encode(b"\0joe@a.test\0s3cret");
        let c = parse_plain(&decode_response(&wire).unwrap()).unwrap();
        assert_eq!(c.authcid, "joe@a.test");
        assert_eq!(c.authzid, "");
        assert_eq!(c.password, b"s3cret");
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn plain_rejects_malformed() {
        assert_eq!(parse_plain(b"joe\0pw"), Err(SaslError::Malformed));
        assert_eq!(parse_plain(b"\0\0pw"), Err(SaslError::Malformed));
        assert_eq!(parse_plain(b"a\0b\0c\0d"), Err(SaslError::Malformed));
        assert_eq!(decode_response("***"), Err(SaslError::Base64));
        assert_eq!(decode_response("*"), Err(SaslError::Cancelled));
        assert_eq!(decode_response("="), Ok(Vec::new()));
    }

    #[test]
    fn login_prompts_decode() {
        assert_eq!(
            decode_response(LOGIN_USERNAME_PROMPT).unwrap(),
            b"Username:"
        );
        assert_eq!(
            decode_response(LOGIN_PASSWORD_PROMPT).unwrap(),
            b"Password:"
        );
        assert!(login_credentials(b"", b"x").is_err());
    }
}
