qdel
99.pbsserver
