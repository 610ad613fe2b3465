require ["date", "fileinto", "variables"]; if date :zone "-1000" :matches "date" "date" "*" { fileinto "D.${1}"; }
