package websock

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: every
// connection must release its goroutines whichever way it ends.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
