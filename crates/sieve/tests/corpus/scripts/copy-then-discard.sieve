require ["fileinto", "copy"]; fileinto :copy "Copy"; discard;
