require "fileinto"; if size :over 295 { if size :under 297 { fileinto "Exact"; } }
