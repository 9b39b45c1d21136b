qdel
88.pbsserver
