require ["body", "fileinto"]; if body :matches "*cheap pills*" { fileinto "Spam"; }
