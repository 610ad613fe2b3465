require "fileinto"; if anyof (header :contains "subject" "pills", header :contains "subject" "report") { fileinto "Either"; } else { discard; }
