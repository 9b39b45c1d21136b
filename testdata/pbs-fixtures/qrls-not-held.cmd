qrls
97.pbsserver
