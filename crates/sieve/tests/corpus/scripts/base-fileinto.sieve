require "fileinto"; fileinto "Lists";
