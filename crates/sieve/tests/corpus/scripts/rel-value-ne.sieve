require ["fileinto", "relational"]; if address :value "ne" :domain "from" "example.test" { fileinto "Foreign"; }
