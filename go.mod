module github.com/pinit/pinit

go 1.26.8

require (
	github.com/caarlos0/env/v11 v11.4.2
	github.com/lmittmann/tint v1.2.1
	golang.org/x/sys v0.49.0
)
