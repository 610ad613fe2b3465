require ["fileinto", "subaddress"]; if address :user :is "from" "carol" { fileinto "Carol"; }
