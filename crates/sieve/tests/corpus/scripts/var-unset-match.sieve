require ["fileinto", "variables"]; if header :contains "subject" "e" { fileinto "M${1}x"; }
