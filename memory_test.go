package websock

import (
	"testing"
	"unsafe"
)

// TestConnSize guards the memory an idle connection holds: a Conn must fit
// the 1 KiB allocation size class (a byte more costs 128 bytes per
// connection).
func TestConnSize(t *testing.T) {
	if n := unsafe.Sizeof(Conn{}); n > 1024 {
		t.Fatalf("Conn is %d bytes, want at most 1024", n)
	}
}
