require "fileinto"; if address :matches "from" "*@*.test" { fileinto "Test"; }
