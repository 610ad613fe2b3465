require "fileinto";
if header :contains "subject" "pills" { fileinto "Spam"; }
elsif header :contains "subject" "report" { fileinto "Reports"; }
elsif header :contains "subject" "lunch" { fileinto "Lunch"; stop; }
else { redirect "other@example.net"; }
keep;
