package main

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// TestConnBudgetWaitsThenEvictsIdle: at the cap, accepting waits while no
// connection is idle and resumes when one closes; a connection that goes
// idle is closed to make room.
func TestConnBudgetWaitsThenEvictsIdle(t *testing.T) {
	var logs lockedBuffer
	b := newConnBudget(2, slog.New(slog.NewTextHandler(&logs, nil)))
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := b.listener(inner)
	defer ln.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- nc
		}
	}()
	var clients []net.Conn
	dial := func() net.Conn {
		nc, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, nc)
		return nc
	}
	defer func() {
		for _, nc := range clients {
			nc.Close()
		}
	}()
	next := func(within time.Duration) net.Conn {
		select {
		case nc := <-accepted:
			return nc
		case <-time.After(within):
			return nil
		}
	}
	dial()
	first := next(5 * time.Second)
	// first goes idle and is active again before the cap is reached: it is
	// no longer a keep-alive connection that may be closed to make room.
	// (At the cap, an accept waiting for room closes a connection the
	// moment it goes idle, so this is done below the cap.)
	if first != nil {
		b.connState(first, http.StateIdle)
		b.connState(first, http.StateActive)
	}
	dial()
	second := next(5 * time.Second)
	if first == nil || second == nil {
		t.Fatal("connections under the cap not accepted")
	}
	dial()
	if nc := next(300 * time.Millisecond); nc != nil {
		t.Fatalf("a third connection was accepted with a cap of 2 and none idle: the connection active again was closed, or the cap ignored (%d open)", b.openConns())
	}
	if !logs.contains("connection cap reached") {
		t.Fatalf("waiting at the cap not logged:\n%s", logs.String())
	}
	first.Close()
	third := next(5 * time.Second)
	if third == nil {
		t.Fatal("no connection accepted after one closed")
	}
	defer third.Close()

	// second goes idle (as net/http reports keep-alive connections); a
	// fourth client takes its place.
	b.connState(second, http.StateIdle)
	start := time.Now()
	dial()
	fourth := next(5 * time.Second)
	if fourth == nil {
		t.Fatal("the idle connection was not closed to make room")
	}
	defer fourth.Close()
	t.Logf("fourth connection accepted %v after dialling, by closing the idle one", time.Since(start).Round(time.Microsecond))
	clients[1].SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := clients[1].Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("the idle connection's client reads %v, want the end", err)
	}
	if n := b.openConns(); n != 2 {
		t.Fatalf("%d connections counted, want 2", n)
	}
}
