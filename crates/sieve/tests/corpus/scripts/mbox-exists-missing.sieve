require ["fileinto", "mailbox"]; if mailboxexists "Nowhere" { fileinto "Nowhere"; } else { fileinto :create "Made"; }
