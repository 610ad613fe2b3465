//! `mailctl queue …`: list and manage the mail queue through queue-runner's control socket
//! (the protocol is the `ferrymail-queue-control` crate).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use ferrymail_queue_control::{self as control, format_arrival, QueueEntry, Request};

#[derive(Subcommand)]
pub enum QueueCmd {
    /// List queued messages in `mailq` format (`*` = being delivered, `!` = held).
    List {
        /// Print JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Show one message's envelope and per-recipient state.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Attempt every queued message now (also lifts dead-destination back-off).
    Flush,
    /// Attempt one message now.
    Retry { id: String },
    /// Delete a message without bouncing it.
    Delete { id: String },
    /// Put a message on hold: it is not delivered until released.
    Hold { id: String },
    /// Release a held message (it is attempted at once).
    Release { id: String },
    /// Relay every queued message to the cluster peer `queue.handoff_relay` names, removing
    /// each once the peer took it (before taking this host down).
    Handoff,
}

const EX_DATAERR: u8 = 65;
const EX_UNAVAILABLE: u8 = 69;
const EX_CONFIG: u8 = 78;

pub fn run(config_path: &Path, cmd: QueueCmd) -> ExitCode {
    let config = match ferrymail_config::Config::load(config_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mailctl: {e}");
            return ExitCode::from(EX_CONFIG);
        }
    };
    let (req, json) = match &cmd {
        QueueCmd::List { json } => (Request::List, *json),
        QueueCmd::Show { id, json } => (Request::Show { id: id.clone() }, *json),
        QueueCmd::Flush => (Request::Flush, false),
        QueueCmd::Retry { id } => (Request::Retry { id: id.clone() }, false),
        QueueCmd::Delete { id } => (Request::Delete { id: id.clone() }, false),
        QueueCmd::Hold { id } => (Request::Hold { id: id.clone() }, false),
        QueueCmd::Release { id } => (Request::Release { id: id.clone() }, false),
        QueueCmd::Handoff => (Request::Handoff, false),
    };
    // A handoff may take its whole time limit; the answer comes after it.
    let wait = match cmd {
        QueueCmd::Handoff => config.queue.handoff_timeout + Duration::from_secs(30),
        _ => Duration::from_secs(60),
    };
    let resp = match control::request(&config.control_socket(), &req, wait) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mailctl: {e}");
            return ExitCode::from(EX_UNAVAILABLE);
        }
    };
    if !resp.ok {
        eprintln!("mailctl: {}", resp.message);
        return ExitCode::from(EX_DATAERR);
    }
    match cmd {
        QueueCmd::List { .. } | QueueCmd::Show { .. } if json => {
            let v = if matches!(cmd, QueueCmd::Show { .. }) {
                serde_json::to_string_pretty(&resp.entries.first())
            } else {
                serde_json::to_string_pretty(&resp.entries)
            };
            println!("{}", v.unwrap_or_default());
        }
        QueueCmd::List { .. } => print!("{}", control::format_mailq(&resp.entries)),
        QueueCmd::Show { .. } => {
            for e in &resp.entries {
                print!("{}", show(e));
            }
        }
        _ => println!("{}", resp.message),
    }
    ExitCode::SUCCESS
}

fn show(e: &QueueEntry) -> String {
    let mut s = String::new();
    s.push_str(&format!("queue id: {}\n", e.id));
    let state = if e.held {
        "held"
    } else if e.active {
        "being delivered"
    } else {
        "queued"
    };
    s.push_str(&format!("state: {state}\n"));
    let sender = if e.sender.is_empty() { "<>" } else { &e.sender };
    s.push_str(&format!("sender: {sender}\n"));
    s.push_str(&format!("size: {}\n", e.size));
    s.push_str(&format!("arrival: {} UTC\n", format_arrival(e.arrival)));
    s.push_str(&format!("attempts: {}\n", e.attempts));
    if e.next_attempt > 0 {
        s.push_str(&format!(
            "next attempt: {} UTC\n",
            format_arrival(e.next_attempt)
        ));
    }
    if let Some(err) = &e.last_error {
        s.push_str(&format!("last error: {err}\n"));
    }
    s.push_str("recipients:\n");
    for r in &e.recipients {
        match &r.reply {
            Some(reply) => s.push_str(&format!("  {} {} ({reply})\n", r.address, r.status)),
            None => s.push_str(&format!("  {} {}\n", r.address, r.status)),
        }
    }
    s
}
