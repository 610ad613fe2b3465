require "include";
include :global "inc-global";
