require "duplicate";
if duplicate :uniqueid "abc" :handle "x" :last { discard; }
