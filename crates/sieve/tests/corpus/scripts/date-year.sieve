require ["date", "fileinto"]; if date :is "date" "year" "2026" { fileinto "Y2026"; }
