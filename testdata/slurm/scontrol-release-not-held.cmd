scontrol
release
56288870
