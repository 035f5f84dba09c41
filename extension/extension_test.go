package extension

import "testing"

func TestOfferString(t *testing.T) {
	tests := []struct {
		offer Offer
		want  string
	}{
		{Offer{Name: "permessage-deflate"}, "permessage-deflate"},
		{Offer{Name: "permessage-deflate", Params: []Param{
			{Name: "client_max_window_bits"},
			{Name: "server_max_window_bits", Value: "10", HasValue: true},
		}}, "permessage-deflate; client_max_window_bits; server_max_window_bits=10"},
		// A value that is not a token is quoted, with '\' and '"' escaped.
		{Offer{Name: "x", Params: []Param{{Name: "a", Value: "", HasValue: true}}}, `x; a=""`},
		{Offer{Name: "x", Params: []Param{{Name: "a", Value: "b c", HasValue: true}}}, `x; a="b c"`},
		{Offer{Name: "x", Params: []Param{{Name: "a", Value: `q"\`, HasValue: true}}}, `x; a="q\"\\"`},
		// Without HasValue a value is not written.
		{Offer{Name: "x", Params: []Param{{Name: "a", Value: "ignored"}}}, "x; a"},
	}
	for _, tt := range tests {
		if got := tt.offer.String(); got != tt.want {
			t.Errorf("String() = %s, want %s", got, tt.want)
		}
	}
}
