require ["include", "variables", "fileinto"];
set "global.tag" "NS";
include "inc-global-ns";
