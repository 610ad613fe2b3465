require "fileinto"; if address :localpart :is "from" "carol+news" { fileinto "News"; }
