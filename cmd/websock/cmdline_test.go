package main

import (
	"reflect"
	"strings"
	"testing"
)

func TestSplitCommand(t *testing.T) {
	for _, tt := range []struct {
		line string
		want []string
	}{
		{"cat", []string{"cat"}},
		{"  ./chat.sh  a\tb ", []string{"./chat.sh", "a", "b"}},
		{`sh -c 'while read l; do echo "got $l"; done'`, []string{"sh", "-c", `while read l; do echo "got $l"; done`}},
		{`echo "a b" 'c"d' e\ f`, []string{"echo", "a b", `c"d`, "e f"}},
		{`printf "\"\\\$\n"`, []string{"printf", `"\$\n`}},
		{`x '' ""`, []string{"x", "", ""}},
		{`a"b"'c'd`, []string{"abcd"}},
		{`echo $HOME *`, []string{"echo", "$HOME", "*"}}, // nothing expanded
	} {
		got, err := splitCommand(tt.line)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitCommand(%q) = %q, %v; want %q", tt.line, got, err, tt.want)
		}
	}
	for _, tt := range []struct{ line, want string }{
		{"", "empty command line"},
		{"   ", "empty command line"},
		{`echo 'abc`, "unclosed ' quote"},
		{`echo "abc`, `unclosed " quote`},
		{`echo abc\`, "ends with a backslash"},
	} {
		_, err := splitCommand(tt.line)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("splitCommand(%q): %v, want %q", tt.line, err, tt.want)
		}
	}
}
