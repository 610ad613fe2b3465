addflag "\\Seen";
