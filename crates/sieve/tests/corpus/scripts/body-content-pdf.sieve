require ["body", "fileinto"]; if body :content "application" :contains "secret" { fileinto "Pdf"; }
