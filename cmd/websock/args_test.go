package main

import (
	"bytes"
	"errors"
	"flag"
	"slices"
	"strings"
	"testing"
	"time"
)

// testFlags is a flag set with a flag of each kind parseArgs must know.
func testFlags() (*flag.FlagSet, *bool, *string, *int, *time.Duration, *bytes.Buffer) {
	var out bytes.Buffer
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(&out)
	b := fs.Bool("insecure", false, "")
	s := fs.String("origin", "", "")
	n := fs.Int("c", 1, "")
	d := fs.Duration("wait", time.Second, "")
	return fs, b, s, n, d, &out
}

func TestParseArgsFlagsAnywhere(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		insecure   bool
		origin     string
		c          int
		positional []string
	}{
		{[]string{"wss://h/", "-insecure"}, true, "", 1, []string{"wss://h/"}},
		{[]string{"-insecure", "wss://h/"}, true, "", 1, []string{"wss://h/"}},
		{[]string{"a", "-origin", "http://o", "b", "-c", "3"}, false, "http://o", 3, []string{"a", "b"}},
		{[]string{"a", "--origin=x", "-insecure=false", "b"}, false, "x", 1, []string{"a", "b"}},
		// A flag's value may start with a dash; a value is not a flag.
		{[]string{"-origin", "-x", "a"}, false, "-x", 1, []string{"a"}},
		{[]string{"-origin", "--", "a"}, false, "--", 1, []string{"a"}},
		// "--" ends the flags; "-" alone is an argument (stdin, by custom).
		{[]string{"a", "--", "-insecure", "-c"}, false, "", 1, []string{"a", "-insecure", "-c"}},
		{[]string{"-", "-c", "2"}, false, "", 2, []string{"-"}},
		{nil, false, "", 1, nil},
	} {
		fs, insecure, origin, c, _, out := testFlags()
		if err := parseArgs(fs, tc.args); err != nil {
			t.Fatalf("%q: %v (%s)", tc.args, err, out)
		}
		if *insecure != tc.insecure || *origin != tc.origin || *c != tc.c || !slices.Equal(fs.Args(), tc.positional) {
			t.Fatalf("%q: insecure=%v origin=%q c=%d args=%q", tc.args, *insecure, *origin, *c, fs.Args())
		}
	}
}

func TestParseArgsRefusals(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // in the output, and in the error
	}{
		{[]string{"url", "-nope"}, "flag provided but not defined: -nope"},
		{[]string{"url", "-c"}, "flag needs an argument: -c"},
		{[]string{"-c", "many"}, "invalid value \"many\" for flag -c"},
		{[]string{"url", "-c", "-5"}, "test: -c -5: must not be negative"},
		{[]string{"-wait=-1s"}, "test: -wait -1s: must not be negative"},
	} {
		fs, _, _, _, _, out := testFlags()
		err := parseArgs(fs, tc.args)
		var bad usageError
		if !errors.As(err, &bad) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(out.String(), tc.want) {
			t.Fatalf("%q: error %v, output %q; want a usage error saying %q", tc.args, err, out, tc.want)
		}
	}
	fs, _, _, _, _, _ := testFlags()
	if err := parseArgs(fs, []string{"url", "-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h after an argument: %v", err)
	}
}

// TestCommandsTakeFlagsAfterArguments: the commands parse their command
// line with parseArgs, so a flag after an argument is parsed (here, found
// unknown) rather than taken as a second argument.
func TestCommandsTakeFlagsAfterArguments(t *testing.T) {
	t.Parallel() // builds the command first
	for _, name := range []string{"serve", "dial", "conformance", "bench"} {
		t.Run(name, func(t *testing.T) {
			code, out := runBinary(t, name, "ws://127.0.0.1:1/", "-no-such-flag")
			if code != 2 || !strings.Contains(out, "flag provided but not defined: -no-such-flag") {
				t.Fatalf("exit %d, output:\n%s", code, out)
			}
		})
	}
}
