require ["fileinto", "relational", "comparator-i;ascii-numeric"]; if header :count "lt" :comparator "i;ascii-numeric" "x-missing" "1" { fileinto "None"; }
