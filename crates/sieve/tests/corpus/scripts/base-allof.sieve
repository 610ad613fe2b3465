require "fileinto"; if allof (header :contains "from" "example", not exists "x-spam-flag") { fileinto "Clean"; }
