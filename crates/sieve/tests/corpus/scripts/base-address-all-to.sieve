require "fileinto"; if address :all :is "to" "carol+work@example.test" { fileinto "Work"; }
