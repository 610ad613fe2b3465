require "fileinto"; if address :is :all "to" "undisclosed-recipients:;" { fileinto "Group"; } elsif address :matches "to" "*" { fileinto "Any"; }
