require "fileinto"; if header :contains :comparator "i;octet" "subject" "LUNCH" { fileinto "Personal"; } else { discard; }
