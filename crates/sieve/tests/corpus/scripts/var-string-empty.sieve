require ["fileinto", "variables"]; if string :is "${undefined}" "" { fileinto "Empty"; }
