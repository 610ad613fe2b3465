require "fileinto";
if header :contains "subject" "e" { fileinto "Lists"; }
