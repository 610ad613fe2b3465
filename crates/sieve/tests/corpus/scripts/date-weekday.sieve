require ["date", "fileinto", "variables"]; if date :originalzone :matches "date" "weekday" "*" { fileinto "W${1}"; }
