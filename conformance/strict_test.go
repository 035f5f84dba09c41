package conformance

import (
	"context"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// probeAgainst runs Probe against h.
func probeAgainst(t *testing.T, h *brokenServer, limit int) []Finding {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	findings, err := Probe(context.Background(), ProbeConfig{URL: "ws" + strings.TrimPrefix(srv.URL, "http") + "/", MessageLimit: limit})
	if err != nil {
		t.Fatal(err)
	}
	return findings
}

func finding(t *testing.T, findings []Finding, check string) Finding {
	t.Helper()
	for _, f := range findings {
		if f.Check == check {
			return f
		}
	}
	t.Fatalf("no finding %s in %+v", check, findings)
	return Finding{}
}

// TestProbesPassACorrectServer: a server that breaks no rule passes every
// probe.
func TestProbesPassACorrectServer(t *testing.T) {
	t.Parallel()
	findings := probeAgainst(t, &brokenServer{limit: 1000}, 1000)
	for _, check := range []string{CheckHandshake, CheckCloseRoundTrip, CheckMessageLimit} {
		if f := finding(t, findings, check); f.Verdict != OK {
			t.Errorf("%s: %s %v", check, f.Verdict, f.Details)
		}
	}
}

// TestProbesCatchBrokenServers: each server breaks one rule beyond what
// Autobahn checks; the probe for that rule fails, naming it.
func TestProbesCatchBrokenServers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		server  brokenServer
		limit   int
		check   string
		verdict string
		detail  string // part of the detail that names the rule
	}{
		{"any version accepted", brokenServer{anyVersion: true}, 0, CheckHandshake, Failed, "Sec-WebSocket-Version 12"},
		{"400 for another version", brokenServer{versionStatus: 400}, 0, CheckHandshake, Failed, "status 400, want 426"},
		{"no key accepted", brokenServer{noKeyCheck: true}, 0, CheckHandshake, Failed, "no Sec-WebSocket-Key"},
		{"a body accepted", brokenServer{acceptBody: true}, 0, CheckHandshake, Failed, "with a body"},
		{"a foreign origin refused with 500", brokenServer{originStatus: 500}, 0, CheckHandshake, Failed, "foreign origin"},
		{"a foreign origin accepted", brokenServer{anyOrigin: true}, 0, CheckHandshake, Informational, "allows every origin"},
		{"a subprotocol not offered", brokenServer{subprotocol: "chat"}, 0, CheckHandshake, Failed, "subprotocol"},
		{"every extension accepted", brokenServer{echoExtensions: true}, 0, CheckHandshake, Failed, "unknown extension"},
		{"a wrong Sec-WebSocket-Accept", brokenServer{wrongAccept: true}, 0, CheckHandshake, Failed, "Sec-WebSocket-Accept"},
		{"an empty close answered with an empty close", brokenServer{emptyCloseReply: true}, 0, CheckCloseRoundTrip, Failed, "without a code"},
		{"no message limit", brokenServer{}, 1000, CheckMessageLimit, Failed, "was echoed"},
		{"1002 over the limit", brokenServer{limit: 1000, limitCode: 1002}, 1000, CheckMessageLimit, Failed, "want 1009"},
		{"a limit below the advertised one", brokenServer{limit: 999}, 1000, CheckMessageLimit, Failed, "(the limit)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := finding(t, probeAgainst(t, &tt.server, tt.limit), tt.check)
			if f.Verdict != tt.verdict || !slices.ContainsFunc(f.Details, func(d string) bool { return strings.Contains(d, tt.detail) }) {
				t.Fatalf("%s: %s %q, want %s naming %q", tt.check, f.Verdict, f.Details, tt.verdict, tt.detail)
			}
		})
	}
}

// TestFindingsFromCases: what the cases see beyond Autobahn's grades goes
// to the findings, and only there.
func TestFindingsFromCases(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		server brokenServer
		cases  []string
		check  string
		seenIn []string
	}{
		// The server's response omits server_max_window_bits=9 of the
		// offer (RFC 7692 §7.1.2.1): Autobahn grades the cases OK.
		{"deflate offer not honoured", brokenServer{deflateIgnoringOffer: true}, []string{"12.1.1", "13.1.1", "13.3.1", "13.5.1"}, CheckDeflateNegotiation, []string{"13.3.1", "13.5.1"}},
		{"reserved bit on echoes", brokenServer{rsvOnEcho: true}, []string{"1.1.2"}, CheckPeerFrames, []string{"1.1.2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			results := runAgainst(t, &tt.server, tt.cases, Timing{})
			f := finding(t, Findings(results, nil), tt.check)
			if f.Verdict != Failed || !slices.Equal(f.Cases, tt.seenIn) {
				t.Fatalf("%s: %s in %v, want FAILED in %v (%q)", tt.check, f.Verdict, f.Cases, tt.seenIn, f.Details)
			}
		})
	}
	t.Run("not run without probes or compression", func(t *testing.T) {
		t.Parallel()
		findings := Findings(runAgainst(t, &brokenServer{}, []string{"1.1.1"}, Timing{}), nil)
		for _, f := range findings {
			want := NotRun
			if f.Check == CheckPeerFrames {
				want = OK
			}
			if f.Verdict != want {
				t.Errorf("%s: %s, want %s", f.Check, f.Verdict, want)
			}
		}
	})
}
