require "fileinto"; if header :matches "x-mailer" "*" { fileinto "Mailer"; }
