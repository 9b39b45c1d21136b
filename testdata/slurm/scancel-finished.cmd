scancel
56288864
