qrls
95.pbsserver
