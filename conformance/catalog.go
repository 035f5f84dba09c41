package conformance

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
)

//go:embed cases.tsv
var catalogTSV string

// CloseExpectation is how a case must end (the catalogue's expected_close).
type CloseExpectation struct {
	// Codes lists the close codes the peer under test may send.
	Codes []int `json:"closeCode"`
	// ClosedByMe tells whether the fuzzer starts the closing handshake
	// (true) or the peer under test must fail the connection (false).
	ClosedByMe bool `json:"closedByMe"`
	// RequireClean demands the full closing handshake with TCP closed by the
	// server afterwards.
	RequireClean bool `json:"requireClean"`
	// WrongEndpointFatal (the UTF-8 cases) fails the behaviour too when
	// the fuzzer had to close: the peer did not notice the invalid text.
	WrongEndpointFatal bool `json:"closedByWrongEndpointIsFatal,omitempty"`
}

// entry is one line of the catalogue.
type entry struct {
	id, description, expectation string
	expected                     map[string][][]any // grade -> events as the catalogue prints them
	close                        CloseExpectation
}

// catalog returns the catalogue's entries in order.
func catalog() ([]entry, error) {
	var out []entry
	lines := strings.Split(strings.TrimSpace(catalogTSV), "\n")
	for i, line := range lines[1:] {
		f := strings.Split(line, "\t")
		if len(f) != 5 {
			return nil, fmt.Errorf("cases.tsv line %d: %d fields", i+2, len(f))
		}
		e := entry{id: f[0], description: f[1], expectation: f[2]}
		if err := json.Unmarshal([]byte(f[3]), &e.expected); err != nil {
			return nil, fmt.Errorf("cases.tsv case %s: expected events: %w", e.id, err)
		}
		if err := json.Unmarshal([]byte(f[4]), &e.close); err != nil {
			return nil, fmt.Errorf("cases.tsv case %s: expected close: %w", e.id, err)
		}
		out = append(out, e)
	}
	return out, nil
}
