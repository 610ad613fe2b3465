require ["virustest", "fileinto"]; if virustest "0" { fileinto "NoScan"; }
