require ["fileinto", "mailbox"]; fileinto :create "Existing";
