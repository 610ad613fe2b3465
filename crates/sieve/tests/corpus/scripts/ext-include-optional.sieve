require "include";
include :optional "inc-missing";
keep;
