require "fileinto"; if size :under 1M { if size :over 3K { fileinto "Mid"; } }
