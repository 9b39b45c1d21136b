qdel
99999.pbsserver
