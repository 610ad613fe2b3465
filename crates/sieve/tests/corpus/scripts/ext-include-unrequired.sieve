include "inc-lists";
