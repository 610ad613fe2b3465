require "fileinto"; if not exists "x-priority" { fileinto "NoPrio"; }
