require ["body", "fileinto"]; if body :raw :contains "=E2=82=AC" { fileinto "RawQP"; }
