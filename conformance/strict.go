package conformance

import (
	"fmt"
	"strings"
)

// Checks beyond Autobahn. Autobahn's grades leave out things a strict user
// wants to know; these are reported apart, each with its own verdict, so
// that the Autobahn grades stay comparable with Autobahn's reports.
const (
	// CheckDeflateNegotiation: every permessage-deflate response honours
	// an offer (RFC 7692 §7.1): server_no_context_takeover and
	// server_max_window_bits present when offered, the window no larger.
	// Autobahn accepts any response it can parse.
	CheckDeflateNegotiation = "deflate-negotiation"
	// CheckPeerFrames: the peer sent nothing that breaks RFC 6455 (masking,
	// reserved bits and opcodes, invalid UTF-8, close codes). Autobahn
	// fails the connection on these and grades only what follows.
	CheckPeerFrames = "peer-frames"
	// CheckHandshake: the opening handshake of RFC 6455 §4: refusals with
	// the right status, only offered subprotocols and extensions, the
	// exact Sec-WebSocket-Accept, requests with a body refused.
	CheckHandshake = "handshake"
	// CheckCloseRoundTrip: a close frame with a code and a reason is
	// answered with a close frame that carries a code (RFC 6455 §5.5.1)
	// and a valid reason.
	CheckCloseRoundTrip = "close-round-trip"
	// CheckMessageLimit: a message one byte over the limit the server
	// advertises is refused with 1009 (RFC 6455 §7.4.1), one at the limit
	// is echoed.
	CheckMessageLimit = "message-limit"
)

// Verdicts of a Finding, beside OK, Failed and Informational.
const (
	// NotRun: the check needs something the run did not have (a probe
	// against a client, a limit that was not given).
	NotRun = "NOT RUN"
)

// checkDescriptions, in report order.
var checkDescriptions = []struct{ id, description string }{
	{CheckDeflateNegotiation, "RFC 7692 §7.1: every accepted permessage-deflate offer honoured"},
	{CheckPeerFrames, "RFC 6455 §5: frames and close codes from the peer are valid"},
	{CheckHandshake, "RFC 6455 §4: opening handshake, refusals and negotiation"},
	{CheckCloseRoundTrip, "RFC 6455 §5.5.1: a close with code and reason is answered with a code"},
	{CheckMessageLimit, "RFC 6455 §7.4.1: 1009 one byte over the advertised message limit"},
}

// Finding is the verdict of one check beyond Autobahn.
type Finding struct {
	Check       string   `json:"check"`
	Description string   `json:"description"`
	Verdict     string   `json:"verdict"` // OK, FAILED, INFORMATIONAL or NOT RUN
	Details     []string `json:"details,omitempty"`
	Cases       []string `json:"cases,omitempty"` // Autobahn cases where it was seen
}

// Passed reports whether the finding does not fail a strict run.
func (f *Finding) Passed() bool { return f.Verdict != Failed }

// Findings gathers the checks beyond Autobahn: the deviations seen during
// the cases and the findings of probes (see Probe), one per check, in a
// fixed order. Checks that neither the cases nor the probes exercised are
// NOT RUN.
func Findings(results []*Result, probes []Finding) []Finding {
	byCheck := map[string]*Finding{}
	var out []*Finding
	for _, d := range checkDescriptions {
		f := &Finding{Check: d.id, Description: d.description, Verdict: NotRun}
		byCheck[d.id] = f
		out = append(out, f)
	}
	exercised := map[string]bool{}
	for _, r := range results {
		if r.Extensions != "" && !r.IsServer { // a client's offers are not checked
			exercised[CheckDeflateNegotiation] = true
		}
		if r.ResultClose != msgNotOpened {
			exercised[CheckPeerFrames] = true
		}
		seen := map[string]bool{}
		for _, d := range r.Deviations {
			f := byCheck[d.Check]
			f.Verdict = Failed
			if !seen[d.Check] {
				f.Cases = append(f.Cases, r.ID)
				seen[d.Check] = true
			}
			if len(f.Details) < 20 && !containsString(f.Details, d.Detail) {
				f.Details = append(f.Details, d.Detail)
			}
		}
	}
	for check := range exercised {
		if f := byCheck[check]; f.Verdict == NotRun {
			f.Verdict = OK
		}
	}
	for _, p := range probes {
		f := byCheck[p.Check]
		if f == nil {
			continue
		}
		f.Details = append(f.Details, p.Details...)
		switch {
		case p.Verdict == Failed || f.Verdict == Failed:
			f.Verdict = Failed
		case p.Verdict == OK || f.Verdict == OK:
			f.Verdict = OK
		case p.Verdict == Informational:
			f.Verdict = Informational
		}
	}
	res := make([]Finding, len(out))
	for i, f := range out {
		res[i] = *f
	}
	return res
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// casesList shortens a list of case ids for a summary line.
func casesList(ids []string) string {
	if len(ids) > 12 {
		return strings.Join(ids[:12], " ") + fmt.Sprintf(" … (%d cases)", len(ids))
	}
	return strings.Join(ids, " ")
}
