qdel
92.pbsserver
