scontrol
release
56288872
