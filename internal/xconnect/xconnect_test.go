package xconnect

import (
	"slices"
	"strings"
	"testing"
)

// TestEnviron: the setting joins the other GODEBUG settings, or makes the
// variable.
func TestEnviron(t *testing.T) {
	t.Setenv("GODEBUG", "madvdontneed=1")
	env := Environ()
	if !slices.Contains(env, "GODEBUG=http2xconnect=1,madvdontneed=1") {
		t.Fatalf("GODEBUG not extended: %q", env)
	}
	t.Setenv("GODEBUG", "")
	if n := countGodebug(Environ()); n != 1 {
		t.Fatalf("%d GODEBUG variables", n)
	}
}

func countGodebug(env []string) int {
	n := 0
	for _, kv := range env {
		if strings.HasPrefix(kv, "GODEBUG=") {
			n++
		}
	}
	return n
}

// TestEnabled: the tests of this module run with the setting on; this
// one checks the check.
func TestEnabled(t *testing.T) {
	t.Setenv("GODEBUG", "x=1,http2xconnect=1")
	if !Enabled() {
		t.Fatal("setting not seen")
	}
	t.Setenv("GODEBUG", "http2xconnect=0")
	if Enabled() {
		t.Fatal("setting seen where it is 0")
	}
}
