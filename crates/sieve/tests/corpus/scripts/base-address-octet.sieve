require "fileinto"; if address :matches :comparator "i;octet" :domain "from" "*.Example.org" { fileinto "Case"; }
