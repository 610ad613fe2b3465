require ["spamtest", "fileinto", "relational", "comparator-i;ascii-numeric"]; if spamtest :value "eq" :comparator "i;ascii-numeric" "0" { fileinto "Untested"; }
