require ["spamtestplus", "fileinto", "relational", "comparator-i;ascii-numeric"]; if spamtest :percent :value "gt" :comparator "i;ascii-numeric" "50" { discard; }
