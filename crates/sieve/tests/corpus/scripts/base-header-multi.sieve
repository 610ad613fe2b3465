require "fileinto"; if header :contains ["x-nope", "subject", "from"] ["pills", "carol"] { fileinto "Hit"; }
