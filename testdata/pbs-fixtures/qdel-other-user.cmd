qdel
95.pbsserver
