require ["include", "variables", "fileinto"];
set "box" "Mine";
include "inc-local-vars";
fileinto "${box}";
