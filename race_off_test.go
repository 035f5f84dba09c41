//go:build !race

package websock

const raceEnabled = false
