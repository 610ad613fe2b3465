require ["date", "fileinto"]; if currentdate :zone "+0000" :is "zone" "+0000" { fileinto "UTC"; }
