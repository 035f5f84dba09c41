package websock

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/websock/websock/internal/xconnect"
)

// TestMain fails the package's tests if any goroutine outlives them: every
// connection must release its goroutines whichever way it ends. The tests
// run with HTTP/2 extended CONNECT on (GODEBUG=http2xconnect=1), which Go
// reads only at start: without it, the binary runs itself again with it.
func TestMain(m *testing.M) {
	if os.Getenv(plainH2ServerEnv) == "" {
		xconnect.MustRestart()
	}
	goleak.VerifyTestMain(m)
}
