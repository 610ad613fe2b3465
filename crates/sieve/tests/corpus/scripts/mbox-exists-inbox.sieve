require ["fileinto", "mailbox"]; if mailboxexists "INBOX" { fileinto "Yes"; } else { fileinto "No"; }
