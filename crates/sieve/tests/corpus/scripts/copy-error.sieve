require "fileinto"; fileinto :copy "Copy";
