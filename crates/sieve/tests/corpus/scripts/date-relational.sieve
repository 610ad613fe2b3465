require ["date", "fileinto", "relational"]; if date :value "ge" :originalzone "date" "date" "2026-12-08" { fileinto "Later"; }
