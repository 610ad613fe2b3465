require ["include", "variables", "fileinto"];
global "box";
set "box" "Shared";
include "inc-global-vars";
fileinto "${box}-after";
