require ["spamtestplus", "fileinto", "variables"]; if spamtest :percent :matches "*" { fileinto "Pct${1}"; }
