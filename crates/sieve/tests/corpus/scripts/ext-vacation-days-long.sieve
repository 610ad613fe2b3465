require "vacation";
vacation :days 400 :subject "Long" "Far away.";
