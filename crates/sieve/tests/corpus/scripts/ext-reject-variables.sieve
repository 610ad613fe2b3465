require ["reject", "variables"];
set "who" "${0}";
if envelope :all :matches "from" "*" { set "who" "${1}"; }
reject "No mail from ${who}.";
