require ["imap4flags", "fileinto", "variables"]; set "fl" ""; addflag "fl" "\\Draft"; addflag "fl" "x"; if hasflag :contains "fl" "draft" { fileinto :flags "${fl}" "V"; }
