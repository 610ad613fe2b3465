require ["fileinto", "variables"]; if anyof (header :matches "subject" "*report", header :matches "from" "*") { fileinto "A.${1}"; }
