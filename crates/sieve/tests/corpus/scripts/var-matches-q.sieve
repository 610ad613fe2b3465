require ["fileinto", "variables"]; if header :matches "subject" "?*" { fileinto "First.${1}"; }
