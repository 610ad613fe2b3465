require "fileinto"; if address :domain :is ["to", "cc"] "other.test" { fileinto "Other"; }
