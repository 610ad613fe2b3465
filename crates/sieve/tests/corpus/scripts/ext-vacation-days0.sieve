require "vacation";
vacation :days 0 "Short reply.";
