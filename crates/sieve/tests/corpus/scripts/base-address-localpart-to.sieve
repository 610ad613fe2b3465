require "fileinto"; if address :localpart :is ["to", "cc"] ["bob", "dave"] { fileinto "BobDave"; }
