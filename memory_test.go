package websock

import (
	"testing"
	"unsafe"
)

// TestConnSize guards the memory an idle connection holds: a Conn must fit
// the 1 KiB allocation size class (a byte more costs 128 bytes per
// connection). An object with pointers larger than 512 bytes carries an
// 8-byte header in front of it (the runtime's mallocHeaderSize), so the
// struct itself must be at most 1016 bytes.
func TestConnSize(t *testing.T) {
	const mallocHeader = 8
	if n := unsafe.Sizeof(Conn{}); n > 1024-mallocHeader {
		t.Fatalf("Conn is %d bytes, want at most %d", n, 1024-mallocHeader)
	}
}
