require ["variables", "fileinto"];
fileinto "x${box}y";
set "box" "Theirs";
