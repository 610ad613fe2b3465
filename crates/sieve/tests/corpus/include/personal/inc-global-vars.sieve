require ["include", "variables", "fileinto"];
global "box";
fileinto "${box}";
set "box" "Changed";
