require ["include", "fileinto"];
include :personal "inc-lists";
fileinto "Existing";
