//! The values of the Sendmail macros we send, from what the session knows. A macro without a
//! value here is left out of the MACRO packet, as Postfix leaves out unset ones.

use std::net::SocketAddr;

use ferrymail_net::rdns::ClientName;

#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub hostname: String,
    pub local: Option<SocketAddr>,
    pub peer: Option<SocketAddr>,
    /// The client's forward-confirmed and PTR names (`unknown` when not found).
    pub client: ClientName,
    pub helo: Option<String>,
    /// The connection's TLS description (`TLSv1.3 with cipher …`).
    pub tls: Option<String>,
    pub auth_user: Option<String>,
    /// The SASL mechanism of that login.
    pub auth_type: Option<String>,
    pub queue_id: Option<String>,
    pub mail_addr: Option<String>,
    pub rcpt_addr: Option<String>,
}

impl Facts {
    pub fn value(&self, name: &str) -> Option<String> {
        // Single-character macros may be named with or without braces.
        let name = match name.strip_prefix('{').and_then(|n| n.strip_suffix('}')) {
            Some(inner) if inner.len() == 1 => inner,
            _ => name,
        };
        let tls = self.tls.as_deref().map(|t| t.split_once(" with cipher "));
        match name {
            "j" | "{daemon_name}" => Some(self.hostname.clone()),
            "v" => Some(concat!("ferrymail ", env!("CARGO_PKG_VERSION")).to_string()),
            "{daemon_addr}" => self.local.map(|a| a.ip().to_string()),
            "{daemon_port}" => self.local.map(|a| a.port().to_string()),
            "{client_addr}" => self.peer.map(|a| a.ip().to_string()),
            "{client_port}" => self.peer.map(|a| a.port().to_string()),
            "{client_name}" => self.peer.map(|_| self.client.name().to_string()),
            "{client_ptr}" => self.peer.map(|_| self.client.ptr().to_string()),
            "_" => self
                .peer
                .map(|a| format!("{} [{}]", self.client.name(), a.ip())),
            "s" => self.helo.clone(),
            "{tls_version}" => {
                tls.map(|t| t.map_or(self.tls.clone().unwrap_or_default(), |(v, _)| v.to_string()))
            }
            "{cipher}" => tls.flatten().map(|(_, c)| c.to_string()),
            "{auth_authen}" => self.auth_user.clone(),
            "{auth_type}" => self.auth_type.clone(),
            "i" => self.queue_id.clone(),
            "{mail_addr}" => self.mail_addr.clone(),
            "{rcpt_addr}" => self.rcpt_addr.clone(),
            _ => None,
        }
    }
}

/// The path and ESMTP parameters of a MAIL or RCPT command line, as the milter protocol
/// carries them: `["<a@b>", "SIZE=10"]`.
pub fn command_args(line: &[u8]) -> Vec<String> {
    let line = String::from_utf8_lossy(line);
    let rest = line.split_once(':').map_or("", |(_, r)| r);
    rest.split_whitespace().map(String::from).collect()
}

/// The address of a path argument, without its angle brackets.
pub fn bare_address(path: &str) -> String {
    path.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macros_and_command_arguments() {
        let f = Facts {
            hostname: "mx.test".into(),
            peer: Some("192.0.2.1:4567".parse().unwrap()),
            tls: Some("TLSv1.3 with cipher TLS13_AES_128_GCM_SHA256".into()),
            ..Facts::default()
        };
        assert_eq!(f.value("{j}").as_deref(), Some("mx.test"));
        assert_eq!(f.value("_").as_deref(), Some("unknown [192.0.2.1]"));
        assert_eq!(f.value("{client_port}").as_deref(), Some("4567"));
        assert_eq!(f.value("{tls_version}").as_deref(), Some("TLSv1.3"));
        assert_eq!(
            f.value("{cipher}").as_deref(),
            Some("TLS13_AES_128_GCM_SHA256")
        );
        assert_eq!(f.value("{auth_authen}"), None);
        assert_eq!(
            command_args(b"MAIL FROM: <a@b> SIZE=10 BODY=8BITMIME\r\n"),
            ["<a@b>", "SIZE=10", "BODY=8BITMIME"]
        );
        assert_eq!(command_args(b"RCPT TO:<c@d>"), ["<c@d>"]);
        assert_eq!(bare_address("<a@b>"), "a@b");
        assert_eq!(bare_address("<>"), "");
    }
}
