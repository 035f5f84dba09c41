module github.com/websock/websock

go 1.26.8
