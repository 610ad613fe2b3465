require ["index", "fileinto"]; if address :index 1 :domain :is "to" "example.test" { fileinto "FirstTo"; }
