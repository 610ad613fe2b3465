require ["fileinto", "variables"]; set :lowerfirst "x" "ABC"; fileinto "${x}";
