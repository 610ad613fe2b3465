require ["fileinto", "subaddress"]; if address :detail :matches "from" "*" { fileinto "HasDetail"; }
