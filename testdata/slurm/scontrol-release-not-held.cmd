scontrol
release
1136
