package conformance_test

import (
	"testing"

	"github.com/websock/websock"
	"github.com/websock/websock/conformance"
)

// suiteCases is the whole catalogue.
func suiteCases(t *testing.T) []*conformance.Case { return allCases(t) }

func extensions() []websock.Extension { return []websock.Extension{&websock.PerMessageDeflate{}} }
