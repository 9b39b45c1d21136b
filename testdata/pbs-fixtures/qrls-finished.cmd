qrls
88.pbsserver
