require ["fileinto", "subaddress", "variables", "envelope"]; if envelope :detail :matches "to" "*" { fileinto "Sub.${1}"; }
