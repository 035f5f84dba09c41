package conformance

import (
	"context"
	"encoding/binary"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// runAgainst plays the cases matching patterns against h.
func runAgainst(t *testing.T, h *brokenServer, patterns []string, timing Timing) []*Result {
	t.Helper()
	cases, err := Cases()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	selected := Select(cases, patterns)
	if len(selected) == 0 {
		t.Fatalf("no case matches %v", patterns)
	}
	results, err := RunServer(context.Background(), selected, ClientConfig{
		URL: "ws" + strings.TrimPrefix(srv.URL, "http"), Timing: timing, Parallel: 4,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != len(selected) {
		t.Fatalf("%d results for %d cases", len(results), len(selected))
	}
	return results
}

// TestGradesLikeAutobahn plays cases against servers that break one rule
// (or none) and checks Autobahn's grades, as its case classes and
// Case.onConnectionLost decide them.
func TestGradesLikeAutobahn(t *testing.T) {
	t.Parallel()
	// Waits that only a broken server makes the fuzzer sit out are short
	// where the test is about them; the rest stay generous.
	short := time.Second
	tests := []struct {
		name     string
		server   brokenServer
		timing   Timing
		cases    []string
		behavior string // expected grade of every selected case, "" to skip the check
		close    string
	}{
		{"correct", brokenServer{}, Timing{}, []string{"1.1.1", "2.10", "3.1", "5.19", "6.4.1", "7.3.*", "7.9.1", "9.1.1"}, OK, OK},
		{"informational whatever happens", brokenServer{}, Timing{}, []string{"7.1.6", "7.13.*"}, Informational, Informational},
		{"an empty close answered with an empty close", brokenServer{emptyCloseReply: true}, Timing{}, []string{"1.1.1", "7.3.1", "7.3.3", "7.7.1"}, OK, OK},
		{"no UTF-8 validation", brokenServer{noUTF8Check: true}, Timing{}, []string{"6.3.1", "6.6.1", "6.4.1"}, Failed, Failed},
		{"UTF-8 checked only at the end", brokenServer{lateUTF8: true}, Timing{}, []string{"6.4.*"}, NonStrict, OK},
		{"no pong", brokenServer{noPong: true}, Timing{Settle: short}, []string{"2.2", "2.10", "5.6"}, Failed, OK},
		{"drops TCP without a close frame", brokenServer{dropOnClose: true}, Timing{}, []string{"1.1.1", "7.7.1"}, OK, Unclean},
		{"drops TCP instead of failing", brokenServer{dropOnClose: true, wrongCode: -1}, Timing{}, []string{"3.1", "4.1.1"}, OK, OK},
		{"wrong close code", brokenServer{wrongCode: 1000}, Timing{}, []string{"3.1", "4.1.1"}, OK, WrongCode},
		{"wrong close code in a closing case", brokenServer{wrongCode: 1000}, Timing{}, []string{"7.9.1"}, Failed, WrongCode},
		{"never closes TCP, case ended by killAfter", brokenServer{keepTCPOpen: true}, Timing{Drop: short}, []string{"1.1.1", "7.7.1"}, OK, FailedByClient},
		{"never closes TCP, case ended by closeAfter", brokenServer{keepTCPOpen: true}, Timing{Drop: short}, []string{"2.1", "9.1.1"}, OK, Unclean},
		{"deflate offer not honoured", brokenServer{deflateIgnoringOffer: true}, Timing{}, []string{"12.1.1", "13.3.1", "13.5.1"}, OK, OK},
		{"deflate not implemented", brokenServer{}, Timing{}, []string{"12.1.1", "13.3.1"}, Unimplemented, OK},
		{"wrong Sec-WebSocket-Accept", brokenServer{wrongAccept: true}, Timing{}, []string{"1.1.1"}, Failed, Failed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, r := range runAgainst(t, &tt.server, tt.cases, tt.timing) {
				if r.Duration > 3*time.Second {
					t.Logf("case %s took %v", r.ID, r.Duration)
				}
				if (tt.behavior != "" && r.Behavior != tt.behavior) || (tt.close != "" && r.BehaviorClose != tt.close) {
					t.Errorf("case %s graded %s/%s, want %s/%s (%s)", r.ID, r.Behavior, r.BehaviorClose, tt.behavior, tt.close, r.Reason())
				}
			}
		})
	}
}

// TestEmptyCloseReplyHasNoCode: Autobahn reports a close frame without a
// code as no code at all (remoteCloseCode null), not as 1005.
func TestEmptyCloseReplyHasNoCode(t *testing.T) {
	t.Parallel()
	results := runAgainst(t, &brokenServer{}, []string{"7.3.1"}, Timing{})
	r := results[0]
	if r.RemoteCode != -1 || r.LocalCode != -1 || !r.WasClean || !r.ClosedByMe || r.DroppedByMe {
		t.Fatalf("7.3.1: remote %d local %d clean %v closedByMe %v droppedByMe %v", r.RemoteCode, r.LocalCode, r.WasClean, r.ClosedByMe, r.DroppedByMe)
	}
}

// TestPeerCloseAnsweredWith1000: like Autobahn, the fuzzer answers the
// peer's close frame with 1000, whatever the peer's code.
func TestPeerCloseAnsweredWith1000(t *testing.T) {
	t.Parallel()
	r := runAgainst(t, &brokenServer{}, []string{"3.1"}, Timing{})[0]
	if r.ClosedByMe || r.RemoteCode != 1002 || r.LocalCode != 1000 || !r.WasClean {
		t.Fatalf("3.1: closedByMe %v remote %d local %d clean %v", r.ClosedByMe, r.RemoteCode, r.LocalCode, r.WasClean)
	}
}

func TestDisplayLikeAutobahn(t *testing.T) {
	tests := []struct {
		p      []byte
		binary bool
		want   string
	}{
		{nil, true, ""},
		{[]byte("Hello"), false, "Hello"},
		{[]byte{0, 0xff}, false, "0x00ff"},
		{[]byte(strings.Repeat("*", 65)), false, strings.Repeat("*", 64) + " ..."},
		{make([]byte, 65), true, "0x" + strings.Repeat("00", 64) + " ..."},
	}
	for _, tt := range tests {
		if got := display(tt.p, tt.binary); got != tt.want {
			t.Errorf("display(%q) = %q, want %q", tt.p, got, tt.want)
		}
	}
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], 1000)
	if string(closePayload(1000, "")) != string(b[:]) {
		t.Error("closePayload")
	}
}

func TestReportFileLikeAutobahn(t *testing.T) {
	if got := reportFile("Gorilla WS (v1.5)", "13.3.1"); got != "gorilla_ws__v1_5_case_13_3_1.json" {
		t.Fatalf("reportFile = %q", got)
	}
}

func TestMaskBytes(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	for n := range 20 {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(i * 7)
		}
		got := append([]byte(nil), p...)
		maskBytes(got, key)
		for i := range p {
			if got[i] != p[i]^key[i%4] {
				t.Fatalf("len %d: byte %d is %#x, want %#x", n, i, got[i], p[i]^key[i%4])
			}
		}
	}
}
