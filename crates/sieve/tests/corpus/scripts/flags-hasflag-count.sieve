require ["imap4flags", "fileinto", "relational", "comparator-i;ascii-numeric"]; setflag "a b c"; if hasflag :count "eq" :comparator "i;ascii-numeric" "3" { fileinto "Three"; }
