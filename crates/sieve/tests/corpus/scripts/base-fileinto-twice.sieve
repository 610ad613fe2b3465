require "fileinto"; fileinto "A"; fileinto "A"; fileinto "B";
