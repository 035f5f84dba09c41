package conformance

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/websock/websock/internal/xconnect"
)

// TestMain fails the tests if a goroutine outlives them. They run with
// HTTP/2 extended CONNECT on (GODEBUG=http2xconnect=1, which Go reads only
// at start): without it, the binary runs itself again with it.
func TestMain(m *testing.M) {
	xconnect.MustRestart()
	goleak.VerifyTestMain(m)
}
