//! Which command may run in which state, and the order of a reply: the command's own
//! untagged data, then the updates owed to the client, then the tagged completion.

use std::collections::HashSet;

use super::{Action, Output, Session, Storage};
use crate::command::Command;
use crate::response::{Data, Response};

/// Where a command may run.
enum Needs {
    Any,
    NotAuthenticated,
    Authenticated,
    Selected,
}

fn needs(cmd: &Command) -> Needs {
    use Command as C;
    match cmd {
        C::Capability | C::Noop | C::Logout | C::Id(_) => Needs::Any,
        C::StartTls | C::Login { .. } | C::Authenticate { .. } => Needs::NotAuthenticated,
        C::Close
        | C::Unselect
        | C::Expunge
        | C::UidExpunge(_)
        | C::Search { .. }
        | C::Sort { .. }
        | C::CancelUpdate(_)
        | C::Thread { .. }
        | C::Fetch { .. }
        | C::Store { .. }
        | C::Copy { .. }
        | C::Move { .. }
        | C::FetchChangedSince { .. }
        | C::StoreUnchangedSince(_) => Needs::Selected,
        _ => Needs::Authenticated,
    }
}

/// Whether EXPUNGE may be sent after this command (RFC 3501 §7.4.1: not while a client's
/// sequence numbers are in use by FETCH, STORE, SEARCH or COPY).
fn allows_expunge(cmd: &Command) -> bool {
    !matches!(
        cmd,
        Command::Fetch { uid: false, .. }
            | Command::Store { uid: false, .. }
            | Command::FetchChangedSince { uid: false, .. }
            | Command::StoreUnchangedSince(crate::command::ConditionalStore { uid: false, .. })
            | Command::Search { uid: false, .. }
            | Command::Sort { uid: false, .. }
            | Command::Thread { uid: false, .. }
            | Command::Copy { uid: false, .. }
    )
}

/// The end of a command: its tagged reply and what the shell does next.
pub(super) struct Done {
    /// None when the shell completes the command (LOGIN, AUTHENTICATE, IDLE).
    pub reply: Option<Response>,
    pub action: Action,
    /// UIDs whose new flags the command itself reported.
    pub silent: HashSet<u32>,
}

impl Done {
    pub fn reply(reply: Response) -> Done {
        Done {
            reply: Some(reply),
            action: Action::Continue,
            silent: HashSet::new(),
        }
    }
}

impl<S: Storage> Session<S> {
    pub(super) fn execute(&mut self, tag: &str, cmd: Command, out: &mut Output) -> Action {
        let refused = match needs(&cmd) {
            Needs::Any => None,
            Needs::NotAuthenticated if self.store.is_some() => Some("Already logged in"),
            Needs::NotAuthenticated => None,
            Needs::Authenticated | Needs::Selected if self.store.is_none() => Some("Not logged in"),
            Needs::Selected if self.selected.is_none() => Some("No mailbox selected"),
            _ => None,
        };
        if let Some(text) = refused {
            out.push(Response::bad(tag, text));
            return Action::Continue;
        }
        let allow_expunge = allows_expunge(&cmd);
        let cmd = self.with_saved_result(cmd);
        if let Command::Logout = cmd {
            // Nothing else in reply to LOGOUT: the client is only waiting for BYE and OK.
            self.logged_out = true;
            self.close_selected();
            out.push(Response::bye("Logging out"));
            out.push(Response::ok(tag, "Logout completed"));
            return Action::Close;
        }
        let done = self.run(tag, cmd, out);
        if !matches!(done.action, Action::Close) {
            self.updates(allow_expunge, &done.silent, out);
        }
        if let Some(reply) = done.reply {
            out.push(reply);
        }
        done.action
    }

    fn run(&mut self, tag: &str, cmd: Command, out: &mut Output) -> Done {
        use Command as C;
        let ok = |text: &str| Done::reply(Response::ok(tag, text));
        match cmd {
            C::Capability => {
                out.push(Response::Data(Data::Capability(self.capabilities())));
                ok("Capability completed")
            }
            C::Noop | C::Check => {
                if let (Some(store), Some(sel)) = (self.store.as_mut(), self.selected.as_ref()) {
                    // A failed rescan shows the last known state; the next one may succeed.
                    let _ = store.rescan(&sel.mb);
                }
                ok(if matches!(cmd, C::Check) {
                    "Check completed"
                } else {
                    "NOOP completed"
                })
            }
            C::Logout => ok("Logout completed"),
            C::StartTls => {
                if !self.policy.starttls {
                    Done::reply(Response::bad(tag, "TLS is not configured"))
                } else if self.policy.tls_active {
                    Done::reply(Response::bad(tag, "TLS is already active"))
                } else {
                    Done {
                        reply: Some(Response::ok(tag, "Begin TLS negotiation now")),
                        action: Action::StartTls,
                        silent: HashSet::new(),
                    }
                }
            }
            C::Login { user, password } => {
                if !self.login_allowed() {
                    return Done::reply(self.privacy_required(tag));
                }
                Done {
                    reply: None,
                    action: Action::Login {
                        tag: tag.to_owned(),
                        user: String::from_utf8_lossy(&user).into_owned(),
                        password,
                    },
                    silent: HashSet::new(),
                }
            }
            C::Authenticate { mechanism, initial } => {
                if !self.login_allowed() {
                    return Done::reply(self.privacy_required(tag));
                }
                Done {
                    reply: None,
                    action: Action::Authenticate {
                        tag: tag.to_owned(),
                        mechanism,
                        initial,
                    },
                    silent: HashSet::new(),
                }
            }
            C::Id(_) => {
                out.push(Response::Data(Data::Id(vec![
                    ("name".into(), "ferrymail".into()),
                    ("vendor".into(), "ferrymail".into()),
                ])));
                ok("ID completed")
            }
            C::Namespace => {
                out.push(Response::Data(Data::Namespace {
                    prefix: String::new(),
                    delimiter: '/',
                }));
                ok("Namespace completed")
            }
            C::Enable(caps) => self.enable(tag, &caps, out),
            C::Idle => {
                out.push(Response::Continue("idling".into()));
                Done {
                    reply: None,
                    action: Action::Idle {
                        tag: tag.to_owned(),
                    },
                    silent: HashSet::new(),
                }
            }
            C::Select(name) => self.select(tag, &name, false, out),
            C::Examine(name) => self.select(tag, &name, true, out),
            C::Create { name, uses } => self.create(tag, &name, &uses),
            C::Delete(name) => self.delete(tag, &name),
            C::Rename(from, to) => self.rename(tag, &from, &to),
            C::Subscribe(name) => self.subscribe(tag, &name, true),
            C::Unsubscribe(name) => self.subscribe(tag, &name, false),
            C::List { reference, pattern } => self.list(tag, &reference, &pattern, false, out),
            C::Lsub { reference, pattern } => self.list(tag, &reference, &pattern, true, out),
            C::ListExtended(args) => self.list_extended(tag, &args, out),
            C::Status(name, atts) => self.status(tag, &name, &atts, out),
            C::GetQuota(root) => self.get_quota(tag, &root, out),
            C::GetQuotaRoot(mailbox) => self.get_quota_root(tag, &mailbox, out),
            C::GetMetadata(get) => self.get_metadata(tag, &get, out),
            C::SetMetadata { mailbox, entries } => self.set_metadata(tag, &mailbox, &entries),
            C::SetQuota(_) => Done::reply(Response::no(
                tag,
                Some(crate::response::Code::NoPerm),
                "Quotas are set by the administrator",
            )),
            C::Append { mailbox, messages } => self.append(tag, &mailbox, messages),
            C::Close => self.close(tag, true),
            C::Unselect => self.close(tag, false),
            C::Expunge => self.expunge(tag, None),
            C::UidExpunge(set) => self.expunge(tag, Some(set)),
            C::Search {
                uid,
                key,
                ret: None,
            } => self.plain_search(tag, uid, &key, out),
            C::Search {
                uid,
                key,
                ret: Some(ret),
            } => self.extended_search(tag, uid, &key, None, ret, out),
            C::Sort {
                uid,
                criteria,
                key,
                ret,
            } => self.sort(tag, uid, &criteria, &key, ret, out),
            C::CancelUpdate(tags) => self.cancel_update(tag, &tags),
            C::Thread {
                uid,
                algorithm,
                key,
            } => self.thread(tag, uid, algorithm, &key, out),
            C::Fetch { uid, set, atts } => self.fetch(tag, uid, &set, atts, out),
            C::Store {
                uid,
                set,
                op,
                silent,
                flags,
            } => self.store_flags(tag, uid, &set, op, silent, &flags, out),
            C::Copy { uid, set, mailbox } => self.copy(tag, uid, &set, &mailbox, false, out),
            C::Move { uid, set, mailbox } => self.copy(tag, uid, &set, &mailbox, true, out),
            C::Compress(mechanism) => self.compress(tag, &mechanism),
            C::SelectWith {
                mailbox,
                read_only,
                params,
            } => self.select_with(tag, &mailbox, read_only, &params, out),
            C::FetchChangedSince {
                uid,
                set,
                atts,
                changed_since,
                vanished,
            } => self.fetch_changed_since(tag, uid, &set, atts, changed_since, vanished, out),
            C::StoreUnchangedSince(store) => self.store_unchanged_since(tag, store, out),
        }
    }

    fn privacy_required(&self, tag: &str) -> Response {
        Response::no(
            tag,
            Some(crate::response::Code::PrivacyRequired),
            "Plaintext authentication disallowed on non-secure connections",
        )
    }
}
