require "reject";
reject "Refused.";
