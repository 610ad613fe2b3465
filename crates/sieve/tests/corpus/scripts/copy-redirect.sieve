require "copy"; redirect :copy "archive@example.net";
