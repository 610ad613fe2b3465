require "include";
include :once "inc-lists";
include :once "inc-lists";
