//go:build race

package websock

// raceEnabled: the race detector is on. It makes sync.Pool drop a quarter
// of what is put back, so pooled buffers are allocated again now and then.
const raceEnabled = true
