require ["fileinto", "variables"]; set "box" "Archive"; fileinto "${box}";
