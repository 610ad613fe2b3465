require ["fileinto", "subaddress", "envelope"]; if envelope :detail "to" "lists" { fileinto "Lists"; }
