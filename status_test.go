package websock

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/websock/websock/internal/frame"
)

func TestStatusCodeString(t *testing.T) {
	for code, want := range map[StatusCode]string{
		StatusNormalClosure:   "normal closure",
		StatusGoingAway:       "going away",
		StatusAbnormalClosure: "abnormal closure",
		StatusBadGateway:      "bad gateway",
		1004:                  "status 1004",
		4000:                  "status 4000",
		0:                     "status 0",
	} {
		if got := code.String(); got != want {
			t.Errorf("StatusCode(%d).String() = %q, want %q", int(code), got, want)
		}
	}
}

func TestIsCloseError(t *testing.T) {
	peer := &CloseError{Code: StatusGoingAway, Reason: "bye"}
	lost := fmt.Errorf("websock: connection lost: %w", io.ErrUnexpectedEOF)
	for _, tt := range []struct {
		name       string
		err        error
		codes      []StatusCode
		is, unexpc bool
	}{
		{"peer code listed", peer, []StatusCode{StatusNormalClosure, StatusGoingAway}, true, false},
		{"peer code not listed", peer, []StatusCode{StatusNormalClosure}, false, true},
		{"wrapped peer code", fmt.Errorf("read: %w", peer), []StatusCode{StatusGoingAway}, true, false},
		{"no codes", peer, nil, false, true},
		{"lost, abnormal listed", lost, []StatusCode{StatusAbnormalClosure}, true, false},
		{"lost, abnormal not listed", lost, []StatusCode{StatusGoingAway}, false, true},
		{"closed after loss", closedError(lost), []StatusCode{StatusAbnormalClosure}, true, false},
		{"protocol error", fmt.Errorf("%w: bad", ErrProtocol), []StatusCode{StatusProtocolError}, false, false},
		{"closed by this side", ErrClosed, []StatusCode{StatusNormalClosure}, false, false},
		{"context", context.Canceled, nil, false, false},
		{"nil", nil, []StatusCode{StatusNormalClosure}, false, false},
	} {
		if got := IsCloseError(tt.err, tt.codes...); got != tt.is {
			t.Errorf("%s: IsCloseError = %v, want %v", tt.name, got, tt.is)
		}
		if got := IsUnexpectedCloseError(tt.err, tt.codes...); got != tt.unexpc {
			t.Errorf("%s: IsUnexpectedCloseError = %v, want %v", tt.name, got, tt.unexpc)
		}
	}
}

// The errors a real connection returns are classified as they say.
func TestIsCloseErrorOnConn(t *testing.T) {
	c, p := newPair(t, ConnOptions{}, false)
	p.write(frameBytes(true, 0, frame.OpClose, closePayload(4001, "app"), false))
	_, _, err := c.Read(context.Background())
	if !IsCloseError(err, 4001) || IsUnexpectedCloseError(err, 4001) {
		t.Fatalf("peer close 4001: IsCloseError %v, IsUnexpectedCloseError %v (%v)", IsCloseError(err, 4001), IsUnexpectedCloseError(err, 4001), err)
	}

	c, p = newPair(t, ConnOptions{}, false)
	p.nc.Close()
	_, _, err = c.Read(context.Background())
	if !IsCloseError(err, StatusAbnormalClosure) || !IsUnexpectedCloseError(err, StatusGoingAway) {
		t.Fatalf("lost connection: not an abnormal closure: %v", err)
	}
}
