require ["include", "fileinto"];
include "inc-stop";
fileinto "After";
