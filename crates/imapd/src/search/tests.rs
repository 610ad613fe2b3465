use super::*;
use crate::fetch::compute_cached;
use ferrymail_imap_proto::SearchKey as K;

/// Whether `key` matches the message `raw` (LF line ends, as Maildir files often have).
fn hit(key: &K, raw: &[u8], flags: Flags, recent: bool) -> bool {
    let (cached, crlf) = compute_cached(raw.to_vec(), 0);
    let c = Candidate {
        seq: 1,
        uid: 1,
        max_seq: 1,
        max_uid: 1,
        flags,
        recent,
        size: cached.size,
        internal_date: cached.internal_date,
        saved: cached.internal_date + 86_400,
        cached: Some(&cached),
        keywords: &[],
        modseq: 7,
        content: Some(&crlf),
    };
    matches(key, &c)
}

#[test]
fn size_is_rfc822_size_with_crlf() {
    // 18 bytes in the file, 23 with CRLF (RFC822.SIZE).
    let raw = b"Subject: s\n\n4\n4\n4\n";
    assert_eq!(raw.len(), 18);
    assert!(hit(&K::Larger(22), raw, Flags::empty(), false));
    assert!(hit(&K::Smaller(24), raw, Flags::empty(), false));
    assert!(!hit(&K::Larger(23), raw, Flags::empty(), false));
    assert!(!hit(&K::Smaller(23), raw, Flags::empty(), false));
}

#[test]
fn modseq_matches_at_or_above() {
    let raw = b"Subject: s\n\nx\n";
    assert!(hit(&K::ModSeq(7), raw, Flags::empty(), false));
    assert!(hit(&K::ModSeq(1), raw, Flags::empty(), false));
    assert!(!hit(&K::ModSeq(8), raw, Flags::empty(), false));
}

#[test]
fn new_old_recent() {
    let raw = b"Subject: s\n\nx\n";
    let new = |flags, recent| hit(&K::New, raw, flags, recent);
    assert!(new(Flags::empty(), true));
    assert!(!new(Flags::SEEN, true));
    assert!(!new(Flags::empty(), false));
    assert!(hit(&K::Old, raw, Flags::empty(), false));
    assert!(!hit(&K::Old, raw, Flags::empty(), true));
    assert!(hit(&K::Recent, raw, Flags::SEEN, true));
}

#[test]
fn address_keys_match_addresses_not_header_text() {
    let raw = b"From: <user-from (comment)@ (comment) domain.org>\n\
To: groupname: u1@d.org, u2@d.org;\n\
Cc: user-cc@domain.org (RealCc)\n\n";
    let yes = |k: K| assert!(hit(&k, raw, Flags::empty(), false), "{k:?}");
    yes(K::From("user-from@domain.org".into()));
    yes(K::To("groupname".into()));
    yes(K::To("U2@D.ORG".into()));
    yes(K::Cc("realcc".into()));
    assert!(!hit(&K::From("comment".into()), raw, Flags::empty(), false));
}

/// The save date is compared, not INTERNALDATE: `hit` saves the message a day after its
/// INTERNALDATE (the epoch, 1-Jan-1970).
#[test]
fn saved_keys_compare_the_save_date() {
    use ferrymail_imap_proto::Date;
    let raw = b"Subject: s\n\nx\n";
    let day = |day| Date {
        year: 1970,
        month: 1,
        day,
    };
    let yes = |k: K| assert!(hit(&k, raw, Flags::empty(), false), "{k:?}");
    let no = |k: K| assert!(!hit(&k, raw, Flags::empty(), false), "{k:?}");
    yes(K::SavedOn(day(2)));
    no(K::On(day(2)));
    no(K::SavedOn(day(1)));
    yes(K::SavedSince(day(2)));
    no(K::SavedSince(day(3)));
    yes(K::SavedBefore(day(3)));
    no(K::SavedBefore(day(2)));
    yes(K::SaveDateSupported);
}
