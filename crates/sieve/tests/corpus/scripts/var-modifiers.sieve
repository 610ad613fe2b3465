require ["fileinto", "variables"]; set :upperfirst :lower "a" "hELLO"; set :upper "b" "world"; set :length "n" "${a}${b}"; fileinto "${a}.${b}.${n}";
