require "duplicate";
if duplicate :header "subject" :uniqueid "abc" { discard; }
