package conformance_test

import (
	"os"
	"testing"

	"github.com/websock/websock"
	"github.com/websock/websock/conformance"
	"github.com/websock/websock/extension"
)

// representative is the part of the catalogue the tests play against the
// library by default: every case of groups 1 to 7 and 10, and of the
// limits and compression groups the smaller messages of each kind (the
// rest repeats the same code paths with more bytes). CI plays every case
// through websock conformance; WEBSOCK_CONFORMANCE=full plays them all
// here.
var representative = []string{
	"1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "10.*",
	"9.1.1", "9.1.2", "9.2.1", "9.2.2", "9.5.6", "9.6.6", "9.7.1", "9.8.1",
	"12.*.1", "12.1.11", "13.*.1", "13.1.11", "13.7.2",
}

// short is the list for go test -short and for TLS: the UTF-8 cases of
// 6.1 to 6.4 only, one or two of the limits and compression cases.
var short = []string{
	"1.*", "2.*", "3.*", "4.*", "5.*", "6.1.*", "6.2.*", "6.3.*", "6.4.*", "7.*", "10.*",
	"9.1.1", "9.2.1", "9.7.1", "12.1.1", "13.3.1", "13.7.1",
}

// suiteCases is the part of the catalogue this run plays over a transport;
// it says so when it is not the whole. Over TLS or HTTP/2, which change
// only how the bytes travel, the short list is enough.
func suiteCases(t *testing.T, tlsOn bool) []*conformance.Case {
	all := allCases(t)
	patterns := representative
	switch {
	case os.Getenv("WEBSOCK_CONFORMANCE") == "full":
		return all
	case testing.Short() || tlsOn:
		patterns = short
	}
	cases := conformance.Select(all, patterns)
	t.Logf("%d of the %d cases (WEBSOCK_CONFORMANCE=full for all)", len(cases), len(all))
	return cases
}

func extensions() []extension.Extension { return []extension.Extension{&websock.PerMessageDeflate{}} }
