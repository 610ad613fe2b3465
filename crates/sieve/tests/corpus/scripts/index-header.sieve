require ["index", "fileinto", "variables"]; if header :index 2 :matches "received" "from *" { fileinto "Second.${1}"; }
