// Package mask applies the RFC 6455 §5.3 payload mask.
//
// The XOR mask is applied eight bytes at a time; the key position is carried
// across calls so a payload can be unmasked in pieces as it arrives.
package mask

import "encoding/binary"

// Apply XORs b in place with the 4-byte key, starting at key offset pos
// (0..3), and returns the key offset after the last byte of b.
func Apply(key [4]byte, pos int, b []byte) int {
	pos &= 3
	// Bring the key into phase with pos so that b[0] is XORed with key[pos].
	k32 := binary.LittleEndian.Uint32(key[:])
	k32 = k32>>(8*pos) | k32<<(32-8*pos)
	if len(b) >= 8 {
		k64 := uint64(k32) | uint64(k32)<<32
		for len(b) >= 32 {
			v0 := binary.LittleEndian.Uint64(b[0:8])
			v1 := binary.LittleEndian.Uint64(b[8:16])
			v2 := binary.LittleEndian.Uint64(b[16:24])
			v3 := binary.LittleEndian.Uint64(b[24:32])
			binary.LittleEndian.PutUint64(b[0:8], v0^k64)
			binary.LittleEndian.PutUint64(b[8:16], v1^k64)
			binary.LittleEndian.PutUint64(b[16:24], v2^k64)
			binary.LittleEndian.PutUint64(b[24:32], v3^k64)
			b = b[32:]
		}
		for len(b) >= 8 {
			v := binary.LittleEndian.Uint64(b)
			binary.LittleEndian.PutUint64(b, v^k64)
			b = b[8:]
		}
	}
	// Whole words keep the phase; only the tail advances it.
	for i := range b {
		b[i] ^= byte(k32)
		k32 = k32>>8 | k32<<24
	}
	return (pos + len(b)) & 3
}
