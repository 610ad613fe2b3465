require ["fileinto", "relational"]; if header :value "lt" "subject" "M" { fileinto "AtoL"; }
