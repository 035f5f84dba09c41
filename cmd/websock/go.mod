module github.com/websock/websock/cmd/websock

go 1.26.8

require (
	github.com/chromedp/chromedp v0.23.0
	github.com/websock/websock v0.0.0
	go.uber.org/goleak v1.3.0
)

require (
	github.com/chromedp/cdproto v0.159.0 // indirect
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
	github.com/klauspost/compress v1.20.4 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/text v0.43.0 // indirect
)

// The command is developed in the same repository as the library; go.work at
// the repository's root selects the library beside it, and this line does the
// same for commands run with GOWORK=off (go mod tidy).
replace github.com/websock/websock => ../..
