reject "Refused.";
