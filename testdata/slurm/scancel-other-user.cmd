scancel
56288872
