qrls
99999.pbsserver
