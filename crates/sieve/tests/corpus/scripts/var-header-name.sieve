require ["fileinto", "variables"]; set "h" "x-priority"; if exists "${h}" { fileinto "HasPrio"; }
