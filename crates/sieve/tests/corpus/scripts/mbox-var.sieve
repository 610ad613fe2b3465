require ["fileinto", "mailbox", "variables"]; set "b" "Existing"; if mailboxexists "${b}" { fileinto "${b}"; }
