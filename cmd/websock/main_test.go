package main

import (
	"bytes"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/websock/websock/internal/xconnect"
)

// TestMain fails the tests if a goroutine outlives them. They run with
// HTTP/2 extended CONNECT on, as "websock serve" does.
func TestMain(m *testing.M) {
	xconnect.MustRestart()
	goleak.VerifyTestMain(m)
}

func TestIsTerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) || isTerminal(&bytes.Buffer{}) {
		t.Fatal("a file or a buffer taken for a terminal")
	}
}
