package conformance_test

import (
	"testing"

	"github.com/websock/websock"
	"github.com/websock/websock/conformance"
)

// suiteCases is the part of the catalogue websock implements so far.
func suiteCases(t *testing.T) []*conformance.Case {
	return conformance.Select(allCases(t), []string{"1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "9.*", "10.*"})
}

func extensions() []websock.Extension { return nil }
