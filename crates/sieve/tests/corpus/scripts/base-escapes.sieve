require "fileinto"; if header :contains "from" "\"Alice, A.\"" { fileinto "Quoted"; } else { fileinto "Q\\\"uote"; }
