require "fileinto";
fileinto "Global";
