require ["date", "fileinto", "variables"]; if date :originalzone :matches "date" "hour" "*" { fileinto "H${1}"; }
