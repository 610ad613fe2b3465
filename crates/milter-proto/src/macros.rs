//! Which macros go with which command: Postfix's default lists (`milter_*_macros`), replaced
//! stage by stage by the lists a milter asks for with SETSYMLIST.

use crate::wire::cmd;

/// The protocol stages macros belong to, numbered as in SETSYMLIST (`SMFIM_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Connect = 0,
    Helo = 1,
    Mail = 2,
    Rcpt = 3,
    Data = 4,
    Eom = 5,
    Eoh = 6,
}

impl Stage {
    /// The command byte the MACRO packet names for this stage.
    pub fn command(self) -> u8 {
        match self {
            Stage::Connect => cmd::CONNECT,
            Stage::Helo => cmd::HELO,
            Stage::Mail => cmd::MAIL,
            Stage::Rcpt => cmd::RCPT,
            Stage::Data => cmd::DATA,
            Stage::Eom => cmd::BODYEOB,
            Stage::Eoh => cmd::EOH,
        }
    }
}

/// Postfix's defaults (`postconf -d milter_connect_macros` and so on).
const DEFAULTS: [&str; 7] = [
    "j {daemon_name} {daemon_addr} v _",
    "{tls_version} {cipher} {cipher_bits} {cert_subject} {cert_issuer}",
    "i {auth_type} {auth_authen} {auth_author} {mail_addr} {mail_host} {mail_mailer}",
    "i {rcpt_addr} {rcpt_host} {rcpt_mailer}",
    "i",
    "i",
    "i",
];

/// The macro names to send at each stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacroLists([Vec<String>; 7]);

impl Default for MacroLists {
    fn default() -> Self {
        MacroLists(DEFAULTS.map(|l| l.split_whitespace().map(String::from).collect()))
    }
}

impl MacroLists {
    /// Replaces one stage's list (SETSYMLIST); unknown stages are ignored, as libmilter does.
    pub fn set(&mut self, stage: u32, names: Vec<String>) {
        if let Some(l) = self.0.get_mut(stage as usize) {
            *l = names;
        }
    }

    pub fn names(&self, stage: Stage) -> &[String] {
        self.0.get(stage as usize).map_or(&[], Vec::as_slice)
    }

    /// The `(name, value)` pairs for `stage`, leaving out macros without a value, as Postfix
    /// does.
    pub fn pairs(
        &self,
        stage: Stage,
        value: &dyn Fn(&str) -> Option<String>,
    ) -> Vec<(String, String)> {
        self.names(stage)
            .iter()
            .filter_map(|n| value(n).map(|v| (n.clone(), v)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_postfix_lists_and_unknown_values_are_left_out() {
        let m = MacroLists::default();
        assert_eq!(
            m.names(Stage::Connect),
            ["j", "{daemon_name}", "{daemon_addr}", "v", "_"]
        );
        assert_eq!(m.names(Stage::Eoh), ["i"]);
        let pairs = m.pairs(Stage::Mail, &|n| match n {
            "{mail_addr}" => Some("a@b".into()),
            "i" => Some("Q1".into()),
            _ => None,
        });
        assert_eq!(
            pairs,
            [
                ("i".into(), "Q1".into()),
                ("{mail_addr}".into(), "a@b".into())
            ]
        );
        let all = [
            Stage::Connect,
            Stage::Helo,
            Stage::Mail,
            Stage::Rcpt,
            Stage::Data,
            Stage::Eom,
            Stage::Eoh,
        ];
        assert_eq!(all.map(Stage::command), *b"CHMRTEN");
    }
}
