require ["index", "fileinto"]; if header :index 5 :contains "received" "" { fileinto "Five"; }
