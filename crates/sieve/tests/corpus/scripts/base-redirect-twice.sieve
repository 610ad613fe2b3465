redirect "a@example.net"; redirect "a@example.net";
