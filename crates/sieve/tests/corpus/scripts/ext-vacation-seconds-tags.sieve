require "vacation-seconds";
vacation :seconds 172800 :subject "Out" :from "bob@example.test" :addresses ["bob@example.test", "robert@example.test"] :handle "h1" "Back soon.";
