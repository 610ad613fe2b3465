require ["fileinto", "mailbox"]; if mailboxexists ["INBOX", "Existing"] { fileinto "Existing"; } else { fileinto "Missing"; }
