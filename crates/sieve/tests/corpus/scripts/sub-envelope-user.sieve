require ["fileinto", "subaddress", "envelope"]; if envelope :user :is "to" "bob" { fileinto "Bob"; }
