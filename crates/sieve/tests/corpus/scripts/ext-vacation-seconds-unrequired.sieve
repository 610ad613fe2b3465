require "vacation";
vacation :seconds 3600 "Needs vacation-seconds.";
