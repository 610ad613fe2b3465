require ["body", "fileinto"]; if body :text :contains "42 EUR €" { fileinto "Euro"; }
