require ["reject", "fileinto"];
fileinto "Existing";
reject "Refused.";
