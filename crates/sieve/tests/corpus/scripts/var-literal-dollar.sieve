require ["fileinto", "variables"]; fileinto "x${"; fileinto "y${1a}";
