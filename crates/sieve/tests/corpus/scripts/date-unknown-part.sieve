require "date"; if date "date" "fortnight" "1" { keep; }
