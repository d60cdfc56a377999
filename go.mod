module github.com/pinit/pinit

go 1.26.0

require (
	github.com/caarlos0/env/v11 v11.4.2
	github.com/lmittmann/tint v1.2.1
	golang.org/x/net v0.63.0
	golang.org/x/sys v0.50.0
)
