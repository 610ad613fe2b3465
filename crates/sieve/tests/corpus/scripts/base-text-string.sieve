require "fileinto";
if header :contains "subject" text:
report
.
{ fileinto "Multi"; }
