require ["fileinto", "mailbox", "copy"]; fileinto :copy :create "New";
