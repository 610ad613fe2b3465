require "fileinto"; if header :contains "subject" "LUNCH" { fileinto "Personal"; }
