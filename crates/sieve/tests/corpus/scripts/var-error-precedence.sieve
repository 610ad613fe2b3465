require "variables"; set :upper :lower "a" "x";
