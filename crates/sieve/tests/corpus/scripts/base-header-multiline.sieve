require "fileinto"; if header :contains ["subject", "to"] ["Weekly", "eve@"] { fileinto "Multi"; }
