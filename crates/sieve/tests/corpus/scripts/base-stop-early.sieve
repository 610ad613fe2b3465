require "fileinto"; keep; stop; fileinto "Never";
