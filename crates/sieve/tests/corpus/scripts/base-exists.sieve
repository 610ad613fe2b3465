require "fileinto"; if exists ["x-spam-flag", "subject"] { fileinto "Flagged"; }
