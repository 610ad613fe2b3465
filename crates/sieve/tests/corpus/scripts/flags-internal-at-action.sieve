require ["imap4flags", "fileinto"]; addflag "\\Flagged"; fileinto "A"; addflag "\\Seen"; fileinto "B";
