//! SASL PLAIN (RFC 4616) and LOGIN, shared by SMTP AUTH, POP3 AUTH and IMAP AUTHENTICATE:
//! the decoding, the sans-IO exchange of challenges and responses, and the one rule of who
//! may act as whom. Verifying the password is the user database's job.

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
    /// The authorization identity names someone other than the authenticated user.
    #[error("not authorized to act as another user")]
    NotAuthorized,
}

impl Credentials {
    /// The authorization rule of every protocol: an empty authzid, or one naming the same
    /// login as the authcid, is accepted; acting as anyone else is refused. "The same login"
    /// is decided by `login_key`, the user database's own normalisation, so the rule can
    /// never disagree with which account the password is checked against. Checked before
    /// the password, which then never needs checking for a request we would refuse anyway.
    pub fn authorize(&self, login_key: fn(&str) -> String) -> Result<(), SaslError> {
        if self.authzid.is_empty() || login_key(&self.authzid) == login_key(&self.authcid) {
            Ok(())
        } else {
            Err(SaslError::NotAuthorized)
        }
    }
}

/// Decodes a base64 client response; `*` cancels, `=` is an empty response.
fn decode_response(line: &str) -> Result<Vec<u8>, SaslError> {
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
fn parse_plain(msg: &[u8]) -> Result<Credentials, SaslError> {
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

/// LOGIN's user name: UTF-8, 1 to 255 bytes.
fn check_user(user: &[u8]) -> Result<&str, SaslError> {
    match std::str::from_utf8(user) {
        Ok(u) if !u.is_empty() && u.len() <= 255 => Ok(u),
        _ => Err(SaslError::Malformed),
    }
}

/// Builds credentials from LOGIN's two decoded responses.
fn login_credentials(user: &[u8], password: &[u8]) -> Result<Credentials, SaslError> {
    let user = check_user(user)?;
    if password.len() > 1024 {
        return Err(SaslError::Malformed);
    }
    Ok(Credentials {
        authzid: String::new(),
        authcid: user.to_owned(),
        password: password.to_vec(),
    })
}

/// The mechanisms the servers offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    Login,
}

impl Mechanism {
    /// Every mechanism offered, in the order servers announce them.
    pub const ALL: [Mechanism; 2] = [Mechanism::Plain, Mechanism::Login];

    /// The name as announced (`AUTH=PLAIN`).
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
        }
    }

    /// By name, in any case; `None` for a mechanism we do not offer.
    pub fn from_name(name: &str) -> Option<Mechanism> {
        if name.eq_ignore_ascii_case("PLAIN") {
            Some(Mechanism::Plain)
        } else if name.eq_ignore_ascii_case("LOGIN") {
            Some(Mechanism::Login)
        } else {
            None
        }
    }
}

/// What the server does next in an [`Exchange`].
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Send this base64 challenge in the protocol's framing (`334 `, `+ `), then pass the
    /// client's next line to [`Exchange::respond`]. PLAIN's challenge is empty.
    Challenge(&'static str),
    /// The exchange is over; the credentials passed [`Credentials::authorize`] and only the
    /// password is left to check.
    Done(Credentials),
}

#[derive(Debug, Clone)]
enum Pending {
    Plain,
    LoginUser,
    LoginPass(String),
}

/// One server-side SASL exchange, sans-IO. Every error ends the exchange; the caller drops it
/// and answers in its protocol's words.
#[derive(Debug, Clone)]
pub struct Exchange {
    pending: Pending,
    login_key: fn(&str) -> String,
    master: Option<String>,
}

impl Exchange {
    /// `login_key` is the user database's login normalisation, for [`Credentials::authorize`].
    pub fn new(mechanism: Mechanism, login_key: fn(&str) -> String) -> Exchange {
        let pending = match mechanism {
            Mechanism::Plain => Pending::Plain,
            Mechanism::Login => Pending::LoginUser,
        };
        Exchange {
            pending,
            login_key,
            master: None,
        }
    }

    /// Lets the authentication identity `login` act as anyone (the cluster login of
    /// [`crate::cluster`], Dovecot's master user); its secret is checked by the caller like
    /// any password, through [`crate::cluster::ClusterAuth::check`].
    pub fn with_master(mut self, login: Option<&str>) -> Exchange {
        self.master = login.map(str::to_owned);
        self
    }

    /// The first step: with an initial response (SASL-IR, RFC 4954's `AUTH mech ir`) it
    /// answers the first challenge, otherwise the first challenge is sent.
    pub fn begin(&mut self, initial: Option<&str>) -> Result<Step, SaslError> {
        match (initial, &self.pending) {
            (Some(ir), _) => self.respond(ir),
            (None, Pending::LoginUser) => Ok(Step::Challenge(LOGIN_USERNAME_PROMPT)),
            (None, _) => Ok(Step::Challenge("")),
        }
    }

    /// The client's response line (line ending optional).
    pub fn respond(&mut self, line: &str) -> Result<Step, SaslError> {
        let decoded = decode_response(line)?;
        let creds = match &self.pending {
            Pending::Plain => parse_plain(&decoded)?,
            Pending::LoginUser => {
                let user = check_user(&decoded)?;
                self.pending = Pending::LoginPass(user.to_owned());
                return Ok(Step::Challenge(LOGIN_PASSWORD_PROMPT));
            }
            Pending::LoginPass(user) => login_credentials(user.as_bytes(), &decoded)?,
        };
        if self.master.as_deref() != Some(creds.authcid.as_str()) {
            creds.authorize(self.login_key)?;
        }
        Ok(Step::Done(creds))
    }
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

    fn lower(s: &str) -> String {
        s.to_lowercase()
    }

    fn done(step: Result<Step, SaslError>) -> Credentials {
        match step {
            Ok(Step::Done(c)) => c,
            other => panic!("expected credentials, got {other:?}"),
        }
    }

    #[test]
    fn authorization_follows_the_login_key() {
        let creds = |authzid: &str| Credentials {
            authzid: authzid.into(),
            authcid: "Joe@A.test".into(),
            password: b"pw".to_vec(),
        };
        assert_eq!(creds("").authorize(lower), Ok(()));
        assert_eq!(creds("joe@a.test").authorize(lower), Ok(()));
        assert_eq!(creds("JOE@A.TEST").authorize(lower), Ok(()));
        assert_eq!(
            creds("admin@a.test").authorize(lower),
            Err(SaslError::NotAuthorized)
        );
        // The normalisation is the caller's: an exact one refuses what differs in case.
        assert_eq!(
            creds("joe@a.test").authorize(str::to_owned),
            Err(SaslError::NotAuthorized)
        );
    }

    #[test]
    fn plain_exchange_with_and_without_initial_response() {
        let mut ex = Exchange::new(Mechanism::Plain, lower);
        assert_eq!(ex.begin(None), Ok(Step::Challenge("")));
        let c = done(ex.respond(&format!("{}\r\n", encode(b"\0joe\0pw"))));
        assert_eq!(
            (c.authcid.as_str(), c.password.as_slice()),
            ("joe", &b"pw"[..])
        );

        let mut ex = Exchange::new(Mechanism::Plain, lower);
        let c = done(ex.begin(Some(&encode(b"JOE\0joe\0pw"))));
        assert_eq!(c.authzid, "JOE");

        let mut ex = Exchange::new(Mechanism::Plain, lower);
        assert_eq!(
            ex.begin(Some(&encode(b"admin\0joe\0pw"))),
            Err(SaslError::NotAuthorized)
        );
        let mut ex = Exchange::new(Mechanism::Plain, lower);
        assert_eq!(ex.begin(Some("*")), Err(SaslError::Cancelled));
    }

    #[test]
    fn only_the_master_login_may_act_as_another_user() {
        let mut ex = Exchange::new(Mechanism::Plain, lower).with_master(Some("cluster"));
        let c = done(ex.begin(Some(&encode(b"joe@example.org\0cluster\0secret"))));
        assert_eq!(
            (c.authzid.as_str(), c.authcid.as_str()),
            ("joe@example.org", "cluster")
        );
        // The master login is case-sensitive and nobody else gains its right.
        let mut ex = Exchange::new(Mechanism::Plain, lower).with_master(Some("cluster"));
        assert_eq!(
            ex.begin(Some(&encode(b"joe\0Cluster\0secret"))),
            Err(SaslError::NotAuthorized)
        );
        let mut ex = Exchange::new(Mechanism::Plain, lower).with_master(Some("cluster"));
        assert_eq!(
            ex.begin(Some(&encode(b"joe\0ann\0pw"))),
            Err(SaslError::NotAuthorized)
        );
    }

    #[test]
    fn login_exchange_asks_user_then_password() {
        let mut ex = Exchange::new(Mechanism::Login, lower);
        assert_eq!(ex.begin(None), Ok(Step::Challenge(LOGIN_USERNAME_PROMPT)));
        assert_eq!(
            ex.respond(&encode(b"joe")),
            Ok(Step::Challenge(LOGIN_PASSWORD_PROMPT))
        );
        let c = done(ex.respond(&encode(b"pw")));
        assert_eq!((c.authzid.as_str(), c.authcid.as_str()), ("", "joe"));

        // An initial response is the user name.
        let mut ex = Exchange::new(Mechanism::Login, lower);
        assert_eq!(
            ex.begin(Some(&encode(b"joe"))),
            Ok(Step::Challenge(LOGIN_PASSWORD_PROMPT))
        );
        assert_eq!(
            ex.respond("="),
            Ok(Step::Done(Credentials {
                authzid: String::new(),
                authcid: "joe".into(),
                password: Vec::new(),
            }))
        );

        let mut ex = Exchange::new(Mechanism::Login, lower);
        assert_eq!(ex.respond("="), Err(SaslError::Malformed));
        assert_eq!(Mechanism::from_name("login"), Some(Mechanism::Login));
        assert_eq!(Mechanism::from_name("CRAM-MD5"), None);
    }
}
