qrls
99.pbsserver
