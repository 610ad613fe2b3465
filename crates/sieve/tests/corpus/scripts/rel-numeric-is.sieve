require ["fileinto", "comparator-i;ascii-numeric"]; if header :is :comparator "i;ascii-numeric" "x-priority" "03" { fileinto "Three"; }
