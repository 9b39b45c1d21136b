scontrol
release
56288864
