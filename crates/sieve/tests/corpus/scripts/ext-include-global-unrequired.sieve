require "include";
global "box";
