require ["fileinto", "subaddress"]; if address :detail :is ["from", "to"] ["news", "work"] { fileinto "Detail"; }
