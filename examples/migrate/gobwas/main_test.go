package main

import (
	"net"
	"testing"

	"github.com/websock/websock/examples/migrate/internal/chattest"
)

func TestChat(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go serve(ln)
	chattest.Run(t, "ws://"+ln.Addr().String()+"/")
}
