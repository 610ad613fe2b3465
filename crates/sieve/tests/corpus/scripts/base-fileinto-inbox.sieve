require "fileinto"; fileinto "INBOX";
