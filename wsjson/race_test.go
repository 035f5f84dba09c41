//go:build race

package wsjson

// Under the race detector, sync.Pool drops a share of what it is given on
// purpose, so that pooled buffers are sometimes allocated anew.
const raceEnabled = true
