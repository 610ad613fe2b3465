require ["body", "fileinto"]; if not body :contains "lunch" { fileinto "NoLunch"; }
