require ["index", "fileinto", "variables"]; if header :index 1 :last :matches "received" "from * by*" { fileinto "Last.${1}"; }
