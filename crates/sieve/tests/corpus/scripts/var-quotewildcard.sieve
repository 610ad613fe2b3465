require ["fileinto", "variables"]; set :quotewildcard "p" "[list]*"; if header :matches "subject" "${p}" { fileinto "Quoted"; } else { fileinto "Unquoted"; }
