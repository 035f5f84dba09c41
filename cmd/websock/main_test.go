package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/websock/websock/internal/xconnect"
)

// binDir holds the websock binary that the tests of the command line
// build (once) and run.
var binDir string

// TestMain fails the tests if a goroutine outlives them. They run with
// HTTP/2 extended CONNECT on, as "websock serve" does.
func TestMain(m *testing.M) {
	xconnect.MustRestart()
	if os.Getenv(idleClientsEnv) != "" {
		os.Exit(runIdleClients(os.Getenv(idleClientsEnv)))
	}
	dir, err := os.MkdirTemp("", "websock-test-bin")
	if err != nil {
		panic(err)
	}
	binDir = dir
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		os.RemoveAll(dir)
		os.Exit(code)
	}))
}

var (
	buildOnce sync.Once
	buildErr  error
)

// websockBinary builds the command once for the tests that run it as a
// user would, and returns its path.
func websockBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(binDir, "websock")
	buildOnce.Do(func() {
		out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("go build: %v", buildErr)
	}
	return bin
}

// runBinary runs the websock binary with args, stdin empty, and returns
// its exit status and what it wrote on stdout and stderr.
func runBinary(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(websockBinary(t), args...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("websock %q: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

func TestIsTerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) || isTerminal(&bytes.Buffer{}) {
		t.Fatal("a file or a buffer taken for a terminal")
	}
}

// TestCommandLine: exit statuses and messages of the command line itself.
func TestCommandLine(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want []string // in stdout or stderr
	}{
		{nil, 2, []string{"usage: websock <command>", "serve", "dial", "version"}},
		{[]string{"nope"}, 2, []string{`unknown command "nope"`, "usage: websock <command>"}},
		{[]string{"help"}, 0, []string{"usage: websock <command>"}},
		{[]string{"-h"}, 0, []string{"usage: websock <command>"}},
		{[]string{"version"}, 0, []string{"websock ", runtime.Version(), runtime.GOOS + "/" + runtime.GOARCH}},
		{[]string{"-version"}, 0, []string{"websock ", runtime.Version()}},
		{[]string{"dial", "-h"}, 0, []string{"usage: websock dial", "-wait"}},
		{[]string{"dial"}, 2, []string{"websock dial: exactly one URL expected", `run "websock dial -h"`}},
		{[]string{"dial", "ws://a/", "ws://b/"}, 2, []string{"exactly one URL expected"}},
		{[]string{"dial", "-timeout", "-1s", "ws://a/"}, 2, []string{"websock dial: -timeout -1s: must not be negative"}},
		{[]string{"dial", "ws://a/", "-wait", "-1s"}, 2, []string{"-wait -1s: must not be negative"}},
		{[]string{"dial", "-ca", "/no/such/file", "wss://a/"}, 1, []string{"websock: dial: -ca: open /no/such/file"}},
		{[]string{"serve", "-read-limit", "-5"}, 2, []string{"websock serve: -read-limit -5: must not be negative"}},
		{[]string{"serve", "-max-conns=-1", "-write-timeout", "-1s"}, 2, []string{"-max-conns -1", "-write-timeout -1s"}},
		{[]string{"serve", "-cert", "cert.pem", "-ws", "127.0.0.1:0", "-wss", "127.0.0.1:0"}, 1, []string{"websock: serve: -cert and -key go together"}},
		{[]string{"serve", "extra"}, 2, []string{`unexpected argument "extra"`}},
		{[]string{"conformance", "-parallel", "0", "ws://a/"}, 2, []string{"-parallel 0"}},
		{[]string{"conformance", "-serve", "127.0.0.1:0", "-key", "k.pem"}, 2, []string{"-cert and -key go together"}},
	} {
		code, out := runBinary(t, tc.args...)
		if code != tc.code {
			t.Errorf("websock %q: exit %d, want %d; output:\n%s", tc.args, code, tc.code, out)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("websock %q: output does not say %q:\n%s", tc.args, w, out)
			}
		}
		// Errors are said once.
		if strings.Contains(out, "websock: websock") || strings.Count(out, "must not be negative") > strings.Count(strings.Join(tc.args, " "), "-") {
			t.Errorf("websock %q: repeated error:\n%s", tc.args, out)
		}
	}
}

// TestVersionNamesTheBuild: the version names the module's version, the
// revision when the build has one, and Go's version.
func TestVersionNamesTheBuild(t *testing.T) {
	info := &debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Version: "v1.2.3"}}
	if v, want := buildVersion(info), "websock v1.2.3 go1.99 "+runtime.GOOS+"/"+runtime.GOARCH; v != want {
		t.Fatalf("without VCS information: %q, want %q", v, want)
	}
	info.Settings = []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.time", Value: "2026-01-02T03:04:05Z"}, {Key: "vcs.modified", Value: "true"},
	}
	if v, want := buildVersion(info), "websock v1.2.3 revision 0123abcd (2026-01-02T03:04:05Z) with local changes go1.99 "; !strings.HasPrefix(v, want) {
		t.Fatalf("with VCS information: %q, want %q...", v, want)
	}
	// The binary reports its own build.
	if code, out := runBinary(t, "version"); code != 0 || !strings.HasPrefix(out, "websock (devel) ") || !strings.Contains(out, runtime.Version()) {
		t.Fatalf("websock version: exit %d, %q", code, out)
	}
}
