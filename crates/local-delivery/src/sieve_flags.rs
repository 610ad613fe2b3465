//! IMAP flags from a Sieve `keep`/`fileinto` (RFC 5232) as Maildir info letters: the system
//! flags map to `S R F T D`; keywords and `\Recent` have no place in a Maildir file name
//! without the folder's keyword table, so they are dropped with a log line.

use ferrymail_maildir::Flags;

/// The Maildir flags for `flags`; `None` when none apply (the message goes to `new/`).
pub fn maildir_flags(flags: &[String], owner: &str) -> Option<Flags> {
    let mut out = Flags::empty();
    for f in flags {
        let bit = match f.to_ascii_lowercase().as_str() {
            "\\seen" => Flags::SEEN,
            "\\answered" => Flags::REPLIED,
            "\\flagged" => Flags::FLAGGED,
            "\\deleted" => Flags::TRASHED,
            "\\draft" => Flags::DRAFT,
            _ => {
                tracing::info!(owner, flag = %f, "Sieve flag has no Maildir letter; not stored");
                continue;
            }
        };
        out.insert(bit);
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_flags_become_letters_and_keywords_are_dropped() {
        let f: Vec<String> = ["\\Seen", "\\FLAGGED", "$Label1", "\\Answered", "\\Draft"]
            .map(String::from)
            .into();
        assert_eq!(
            maildir_flags(&f, "u").map(|f| f.info()),
            Some("2,DFRS".into())
        );
        assert_eq!(
            maildir_flags(&["\\Deleted".into()], "u").map(|f| f.letters()),
            Some("T".into())
        );
        assert_eq!(maildir_flags(&["junk".into()], "u"), None);
        assert_eq!(maildir_flags(&[], "u"), None);
    }
}
