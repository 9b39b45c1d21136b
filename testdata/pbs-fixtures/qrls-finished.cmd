qrls
92.pbsserver
