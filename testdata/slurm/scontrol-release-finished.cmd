scontrol
release
1130
