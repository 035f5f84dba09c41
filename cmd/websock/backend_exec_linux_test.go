package main

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/websock/websock"
)

// procField reads /proc/PID/file and returns the value of its field
// ("wchar"), or the whole file if field is empty.
func procField(t *testing.T, pid int, file, field string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/" + file)
	if err != nil {
		t.Fatalf("program %d: %v", pid, err)
	}
	if field == "" {
		return strings.TrimSpace(string(b))
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("/proc/%d/%s has no %s", pid, file, field)
	return ""
}

// TestExecProgramFasterThanClient: a program printing without end to a
// client that does not read ends up blocked writing its pipe, having
// written a bounded amount (kernel buffers), while the server's heap stays
// flat; what it printed then arrives in order.
func TestExecProgramFasterThanClient(t *testing.T) {
	line := strings.Repeat("a", 4000)
	s, _ := execServer(t, "sh -c 'echo $$; exec yes "+line+"'", func(cfg *serveConfig) { cfg.writeTimeout = 0 })
	c := dialPath(t, s, "/ws", nil)
	pid := pids(t, readText(t, c))[0]
	before := heapInUse()
	waitFor(t, "the program blocks on its full pipe", func() bool {
		return strings.Contains(procField(t, pid, "wchan", ""), "pipe_write")
	})
	wrote, _ := strconv.Atoi(procField(t, pid, "io", "wchar"))
	growth := int64(heapInUse()) - int64(before)
	t.Logf("program printing to a client that does not read: blocked after %d KiB (pipe and socket buffers); server heap grew %d KiB", wrote>>10, growth>>10)
	if wrote > 128<<20 {
		t.Errorf("the program wrote %d MiB before blocking", wrote>>20)
	}
	if growth > 8<<20 {
		t.Errorf("heap grew %d MiB", growth>>20)
	}
	for range 100 {
		if got := readText(t, c); got != line {
			t.Fatalf("got %d bytes, want the line", len(got))
		}
	}
}

// TestExecClientFasterThanProgram: a client sending to a program that
// does not read is slowed: its writes block after a bounded amount while
// the server's heap stays flat. After -write-timeout without the program
// taking input, the connection is closed with 1011 and the program ended.
func TestExecClientFasterThanProgram(t *testing.T) {
	s, _ := execServer(t, "sh -c 'echo $$; exec sleep 1000'", func(cfg *serveConfig) { cfg.writeTimeout = 3 * time.Second })
	c := dialPath(t, s, "/ws", nil)
	pid := pids(t, readText(t, c))[0]
	code, reason, sent, growth := floodUntilClosed(t, c)
	t.Logf("client sending to a program that does not read: blocked after %d MiB (pipe and socket buffers); server heap grew %d KiB at most", sent>>20, growth>>10)
	if code != websock.StatusInternalError || reason != "program not reading its input" {
		t.Errorf("close %d %q, want 1011 after -write-timeout", code, reason)
	}
	waitFor(t, "the program ends with its connection", func() bool { return processGone(pid) })
}
