require ["imap4flags", "fileinto"]; setflag "\\Seen \\Answered"; removeflag "\\seen"; fileinto "A"; keep;
