require ["imap4flags"]; if header :contains "subject" "pills" { addflag "\\Deleted"; } if exists "x-priority" { addflag "\\Flagged"; } keep;
