scontrol
release
1138
