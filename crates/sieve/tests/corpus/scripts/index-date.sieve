require ["index", "date", "fileinto", "variables"]; if date :index 1 :last :zone "+0000" :matches "received" "minute" "*" { fileinto "M${1}"; }
