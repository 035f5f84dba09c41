package main

import (
	"testing"

	"github.com/websock/websock/examples/migrate/internal/chattest"
)

func TestChat(t *testing.T) {
	chattest.Run(t, chattest.Serve(t, newHandler(), "/subscribe"))
}
