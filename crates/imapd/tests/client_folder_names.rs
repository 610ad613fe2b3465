//! Other clients' names for the special-use folders (Apple Mail's "Sent Messages", Outlook's
//! "Deleted Items", ...) reach the one Sent, Trash and Junk every user has, instead of each
//! client making its own copy; a folder that really has such a name is left alone.

mod common;

use common::{login, message, PASS, USER};

#[test]
fn apple_and_outlook_names_reach_the_special_use_folders() {
    let srv = common::start(true);
    let mut c = login(&srv, USER, PASS);
    let r = c.append("\"Sent Messages\"", "\\Seen", &message("from apple", "a"));
    assert!(r.ok(), "{}", r.all());
    assert!(c
        .append("\"Sent Items\"", "\\Seen", &message("from outlook", "o"))
        .ok());
    let r = c.cmd("STATUS Sent (MESSAGES)");
    assert!(r.has("* STATUS \"Sent\" (MESSAGES 2)"), "{}", r.all());

    // CREATE of another client's name for a folder that exists: it already exists.
    let r = c.cmd("CREATE \"Deleted Items\"");
    assert!(r.tagged.contains("NO [ALREADYEXISTS]"), "{}", r.all());
    let r = c.cmd("LIST \"\" *");
    assert!(
        !r.all().contains("Deleted Items") && !r.all().contains("Sent Messages"),
        "{}",
        r.all()
    );

    let r = c.cmd("SELECT \"Sent Items\"");
    assert!(r.ok() && r.has("* 2 EXISTS"), "{}", r.all());
    let r = c.cmd("COPY 1 \"Deleted Messages\"");
    assert!(r.ok(), "{}", r.all());
    let r = c.cmd("STATUS Trash (MESSAGES)");
    assert!(r.has("(MESSAGES 1)"), "{}", r.all());
    let r = c.cmd("STATUS \"Junk E-mail\" (MESSAGES)");
    assert!(r.ok() && r.has("(MESSAGES 0)"), "{}", r.all());

    // DELETE takes names as they are: it never removes Trash by another name.
    let r = c.cmd("DELETE \"Deleted Items\"");
    assert_eq!(r.status(), "NO", "{}", r.all());
    assert!(c.cmd("STATUS Trash (MESSAGES)").has("(MESSAGES 1)"));
}
