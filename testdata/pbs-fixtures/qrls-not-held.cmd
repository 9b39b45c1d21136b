qrls
93.pbsserver
