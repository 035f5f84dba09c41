//go:build race

package main

// raceStackFactor: the race detector doubles what goroutine stacks need.
const raceStackFactor = 2
