require ["fileinto", "variables"]; if string :contains ["abc", "xyz"] "y" { fileinto "Y"; }
