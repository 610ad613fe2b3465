require "fileinto"; if header :is "subject" "[list] weekly report" { fileinto "Lists"; }
