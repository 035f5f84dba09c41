module github.com/websock/websock

go 1.26.8

require github.com/klauspost/compress v1.20.4

require go.uber.org/goleak v1.3.0

require (
	golang.org/x/net v0.62.0
	golang.org/x/text v0.43.0 // indirect
)
