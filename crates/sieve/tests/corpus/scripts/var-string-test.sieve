require ["fileinto", "variables"]; set "who" "carol"; if string :is "${who}" "carol" { fileinto "Carol"; }
