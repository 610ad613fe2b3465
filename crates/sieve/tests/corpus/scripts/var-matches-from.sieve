require ["fileinto", "variables"]; if address :matches "from" "*@*" { fileinto "From.${2}.${1}"; }
