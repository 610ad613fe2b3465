require ["editheader", "fileinto", "index", "variables"]; addheader "X-Tag" "one"; addheader :last "X-Tag" "two"; if header :index 1 :last :matches "x-tag" "*" { fileinto "Last.${1}"; }
