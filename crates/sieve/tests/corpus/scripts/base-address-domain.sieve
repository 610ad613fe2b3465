require "fileinto"; if address :is :domain "from" "lists.example.org" { fileinto "Lists"; }
