require "reject";
if header :contains "subject" "a" { reject "Not wanted."; }
