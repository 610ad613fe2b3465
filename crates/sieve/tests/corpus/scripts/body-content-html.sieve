require ["body", "fileinto"]; if body :content "text/html" :contains "<b>invoice</b>" { fileinto "Html"; }
