require ["spamtest", "fileinto", "relational", "comparator-i;ascii-numeric"]; if spamtest :value "ge" :comparator "i;ascii-numeric" "6" { fileinto "Junk"; }
