/* a comment */ require ["fileinto"]; # another
if true { fileinto "Commented"; }
