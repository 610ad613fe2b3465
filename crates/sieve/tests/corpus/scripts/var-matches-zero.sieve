require ["fileinto", "variables"]; if header :matches "x-priority" "*" { fileinto "P${0}"; }
