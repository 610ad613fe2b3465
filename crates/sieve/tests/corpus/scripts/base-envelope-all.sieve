require ["envelope", "fileinto"]; if envelope :all :matches "to" "*+*@*" { fileinto "Plus"; }
