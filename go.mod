module github.com/websock/websock

go 1.26.8

require github.com/klauspost/compress v1.20.4

require go.uber.org/goleak v1.3.0
