require "reject";
reject "Refused."; keep;
