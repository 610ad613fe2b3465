require ["date", "fileinto", "variables"]; if date :zone "+0000" :matches "received" "time" "*" { fileinto "R${1}"; }
