//! A generator of session scripts (see [`super::script`]) from a vocabulary of every command
//! the session knows, in valid and malformed forms, with outside events in between. The
//! mutation runs start from these as well as from the corpus, so an extension reaches the
//! fuzzer as soon as its commands are listed here.

use super::Mutator;

/// Message sets, valid and not (`$` is SEARCHRES's saved result).
const SETS: &[&str] = &[
    "1",
    "1:*",
    "*",
    "2:4",
    "1,3",
    "$",
    "0",
    "4294967295",
    "1:2,5",
    "3:1",
    "$,1",
    "1:",
];

/// The command vocabulary: `{set}` becomes a message set, `{n}` a small number, `{tag}` an
/// earlier tag; `\n` ends a line before a literal's bytes.
const COMMANDS: &[&str] = &[
    // IMAP4rev1, IDLE, MOVE, UIDPLUS, UNSELECT.
    "SELECT INBOX",
    "EXAMINE INBOX",
    "SELECT Archive",
    "NOOP",
    "CHECK",
    "CLOSE",
    "UNSELECT",
    "EXPUNGE",
    "UID EXPUNGE {set}",
    "FETCH {set} (UID FLAGS)",
    "UID FETCH {set} (FLAGS RFC822.SIZE)",
    "STORE {set} +FLAGS.SILENT (\\Deleted)",
    "UID STORE {set} -FLAGS (\\Seen)",
    "COPY {set} Archive",
    "MOVE {set} Archive",
    "UID MOVE {set} INBOX",
    "CREATE Archive",
    "DELETE Archive",
    "RENAME Archive Old",
    "LIST \"\" *",
    "STATUS INBOX (MESSAGES UIDNEXT UNSEEN SIZE)",
    "IDLE",
    "DONE",
    "CAPABILITY",
    // SORT and THREAD (RFC 5256), SORT=DISPLAY (RFC 5957).
    "SORT (ARRIVAL) UTF-8 ALL",
    "UID SORT (REVERSE SUBJECT DATE) US-ASCII {set}",
    "SORT (DISPLAYFROM SIZE CC TO) UTF-8 NOT DELETED",
    "THREAD ORDEREDSUBJECT UTF-8 ALL",
    "UID THREAD REFERENCES UTF-8 {set}",
    "SORT () UTF-8 ALL",
    "SORT (ARRIVAL) BOGUS ALL",
    "SORT (REVERSE) UTF-8 ALL",
    "THREAD NOPE UTF-8 ALL",
    // ESEARCH (RFC 4731), SEARCHRES (RFC 5182).
    "SEARCH RETURN (MIN MAX COUNT ALL) {set}",
    "UID SEARCH RETURN (SAVE) SEEN",
    "SEARCH RETURN (SAVE MIN) UNSEEN",
    "SEARCH RETURN () $",
    "FETCH $ (FLAGS)",
    "UID STORE $ +FLAGS (\\Flagged)",
    "UID COPY $ Archive",
    "SEARCH RETURN (BOGUS) ALL",
    "SEARCH RETURN (MIN ALL",
    "SEARCH OR $ 1 NOT $",
    // CONTEXT=SEARCH/SORT, ESORT, PARTIAL (RFC 5267, 9394).
    "SEARCH RETURN (UPDATE) {set}",
    "SEARCH RETURN (UPDATE COUNT MIN) FLAGGED",
    "UID SORT RETURN (UPDATE PARTIAL 1:5) (SUBJECT) UTF-8 ALL",
    "SORT RETURN (UPDATE PARTIAL -1:-3) (REVERSE ARRIVAL) UTF-8 {set}",
    "SORT RETURN (COUNT ALL) (SIZE) UTF-8 ALL",
    "SEARCH RETURN (PARTIAL 0:1) ALL",
    "CANCELUPDATE \"{tag}\"",
    "CANCELUPDATE \"{tag}\" \"nope\"",
    "CANCELUPDATE",
    // CONDSTORE and QRESYNC (RFC 7162).
    "ENABLE CONDSTORE",
    "ENABLE QRESYNC",
    "ENABLE QRESYNC CONDSTORE BOGUS",
    "SELECT INBOX (CONDSTORE)",
    "EXAMINE INBOX (QRESYNC (1000 {n}))",
    "SELECT INBOX (QRESYNC (1000 {n} 1:{n}))",
    "SELECT INBOX (QRESYNC (1000 {n} 1:* (1,3 {set})))",
    "SELECT INBOX (QRESYNC (7 1))",
    "SELECT INBOX (QRESYNC (1000 0))",
    "SELECT INBOX (QRESYNC)",
    "FETCH {set} (FLAGS MODSEQ)",
    "FETCH {set} (FLAGS) (CHANGEDSINCE {n})",
    "UID FETCH {set} (FLAGS) (CHANGEDSINCE {n} VANISHED)",
    "FETCH {set} (FLAGS) (VANISHED)",
    "STORE {set} (UNCHANGEDSINCE {n}) +FLAGS (\\Seen)",
    "UID STORE {set} (UNCHANGEDSINCE 0) FLAGS (\\Deleted)",
    "STORE {set} (UNCHANGEDSINCE) +FLAGS (\\Seen)",
    "SEARCH MODSEQ {n}",
    "SEARCH RETURN (MAX) MODSEQ \"/flags/\\\\seen\" all {n}",
    "STATUS INBOX (HIGHESTMODSEQ)",
    // BINARY (RFC 3516).
    "FETCH {set} (BINARY[1] BINARY.SIZE[1] BINARY.PEEK[]<0.5>)",
    "FETCH {set} BINARY[0]",
    "APPEND INBOX ~{5}\nS:\0\r\n",
    "APPEND INBOX ~{3+}\nabc",
    // MULTIAPPEND (RFC 3502), CATENATE (RFC 4469).
    "APPEND INBOX {3}\nabc (\\Seen) {2}\nhi",
    "APPEND Archive (\\Draft) {1}\nx {1}\ny",
    "APPEND INBOX {2}\nok {12}",
    "APPEND INBOX CATENATE (URL \"/INBOX/;UID=1\" TEXT {3}\nabc)",
    "APPEND INBOX CATENATE (URL \";UID={n}/;SECTION=TEXT\")",
    "APPEND INBOX CATENATE (TEXT {1}\nx URL \"/Nowhere/;UID=1\")",
    "APPEND INBOX CATENATE ()",
    // METADATA (RFC 5464).
    "SETMETADATA INBOX (/private/comment \"note\")",
    "SETMETADATA \"\" (/shared/vendor/x NIL /private/y {3}\nabc)",
    "GETMETADATA INBOX (/private/comment /shared/comment)",
    "GETMETADATA (MAXSIZE 2 DEPTH infinity) \"\" (/shared /private)",
    "GETMETADATA (DEPTH 2) INBOX /private",
    "SETMETADATA INBOX (/bogus x)",
    // QUOTA (RFC 9208).
    "GETQUOTA \"\"",
    "GETQUOTAROOT INBOX",
    "SETQUOTA \"\" (STORAGE {n})",
    "SETQUOTA \"\" (MESSAGE 1 STORAGE 5)",
    "SETQUOTA \"\" (STORAGE)",
    "GETQUOTA nope",
    // CREATE-SPECIAL-USE, LIST-EXTENDED, SPECIAL-USE (RFC 6154, 5258).
    "CREATE Trash (USE (\\Trash))",
    "CREATE Junk (USE (\\Junk \\Archive))",
    "CREATE Odd (USE (\\Bogus))",
    "CREATE X (USE)",
    "LIST \"\" \"*\" RETURN (SPECIAL-USE STATUS (MESSAGES))",
    "LIST (SPECIAL-USE) \"\" \"*\"",
    // COMPRESS (RFC 4978).
    "COMPRESS DEFLATE",
    "COMPRESS BOGUS",
    // IMAP4rev2 (RFC 9051), SAVEDATE (RFC 8514), THREAD=REFS.
    "ENABLE IMAP4rev2",
    "STATUS INBOX (MESSAGES DELETED DELETED-STORAGE)",
    "FETCH {set} (UID SAVEDATE)",
    "SEARCH SAVEDBEFORE 1-Jan-2100 SAVEDATESUPPORTED",
    "UID SEARCH SAVEDSINCE 1-Feb-1994 SAVEDON 32-Feb-1994",
    "THREAD REFS UTF-8 ALL",
    "CREATE Ärger",
    "SELECT Ärger",
    // Logins for session 2 and the end of a session.
    "LOGIN u p",
    "LOGIN u bad",
    "AUTHENTICATE PLAIN AHUAcA==",
    "LOGOUT",
];

/// Outside events (see the script format).
const EVENTS: &[&str] = &["D", "D Archive", "X {n}", "F {n} {n}"];

/// A random script of up to `lines` steps.
pub fn script(rng: &mut Mutator, lines: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut tags = 0usize;
    // Most scripts need messages and a selected mailbox to reach the interesting commands.
    for _ in 0..rng.below(5) {
        out.extend_from_slice(b"D\n");
    }
    for s in 0..2 {
        if rng.below(3) > 0 {
            out.extend_from_slice(format!("{s} s{s} SELECT INBOX\n").as_bytes());
        }
    }
    for _ in 0..lines {
        if rng.below(5) == 0 {
            let event = pick(rng, EVENTS);
            out.extend_from_slice(fill(rng, event, tags).as_bytes());
            out.push(b'\n');
            continue;
        }
        let session = rng.below(3);
        let command = pick(rng, COMMANDS);
        let command = fill(rng, command, tags);
        if command == "DONE" {
            out.extend_from_slice(format!("{session} DONE\n").as_bytes());
            continue;
        }
        tags += 1;
        out.extend_from_slice(format!("{session} t{tags} {command}\n").as_bytes());
    }
    out
}

fn pick<'a>(rng: &mut Mutator, from: &[&'a str]) -> &'a str {
    from.get(rng.below(from.len())).copied().unwrap_or_default()
}

/// The template with its placeholders filled in.
fn fill(rng: &mut Mutator, template: &str, tags: usize) -> String {
    let mut s = template.to_string();
    while let Some(at) = s.find("{set}") {
        let set = pick(rng, SETS);
        s.replace_range(at..at + 5, set);
    }
    while let Some(at) = s.find("{n}") {
        let n = rng.below(12).to_string();
        s.replace_range(at..at + 3, &n);
    }
    if let Some(at) = s.find("{tag}") {
        let tag = format!("t{}", rng.below(tags.max(1)) + 1);
        s.replace_range(at..at + 5, &tag);
    }
    s
}
