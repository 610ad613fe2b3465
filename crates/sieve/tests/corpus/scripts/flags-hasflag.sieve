require ["imap4flags", "fileinto"]; addflag "\\Flagged"; if hasflag :is "\\flagged" { fileinto "Has"; } else { fileinto "HasNot"; }
