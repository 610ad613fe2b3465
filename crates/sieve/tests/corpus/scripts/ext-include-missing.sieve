require "include";
include "inc-missing";
