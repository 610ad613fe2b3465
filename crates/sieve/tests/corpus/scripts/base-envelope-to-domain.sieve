require ["fileinto", "envelope"]; if envelope :domain :is "to" "example.test" { fileinto "Env"; }
