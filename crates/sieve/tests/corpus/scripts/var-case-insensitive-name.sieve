require ["fileinto", "variables"]; set "MyVar" "V"; fileinto "${myvar}${MYVAR}";
