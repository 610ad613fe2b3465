require ["include", "variables", "fileinto"];
fileinto "${global.tag}";
