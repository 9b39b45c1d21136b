module hpcgate

go 1.24.0
