package conformance

import "time"

// Timing bounds the fuzzer's waits. Autobahn waits one second for most
// things; a correct peer answers at once, so these waits end as soon as
// it does and only a broken peer makes the fuzzer wait them out. They are
// generous so that a loaded machine does not turn a slow answer into a
// failure. Zero fields take the defaults below.
type Timing struct {
	// Settle bounds the wait for the expected events before the fuzzer
	// starts the closing handshake (default 10 s).
	Settle time.Duration
	// Fail is how long the fuzzer waits for the peer to fail the
	// connection, in cases where it must (default 10 s).
	Fail time.Duration
	// Close bounds the wait for the peer's close frame once the fuzzer
	// has sent its own (default 10 s).
	Close time.Duration
	// Drop bounds the wait for the end of TCP after the closing handshake:
	// the server's to close (default 10 s).
	Drop time.Duration
	// Echo bounds the wait for the echo of one large message (default
	// 2 min).
	Echo time.Duration
	// Write is the longest one write of at most 64 KiB may stall before
	// the fuzzer gives up on the connection (default 1 min).
	Write time.Duration
	// Open bounds the opening handshake of a case over HTTP/2, which
	// waits its turn on the connection it shares with the other cases
	// (default 10 s, as over TCP).
	Open time.Duration
}

func (t Timing) withDefaults() Timing {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.Settle, 10*time.Second)
	def(&t.Fail, 10*time.Second)
	def(&t.Close, 10*time.Second)
	def(&t.Drop, 10*time.Second)
	def(&t.Echo, 2*time.Minute)
	def(&t.Write, time.Minute)
	def(&t.Open, openHandshakeTimeout)
	return t
}

// Waits inside cases, as Autobahn has them. These are what the cases
// measure, so they are not scaled.
const (
	// failFastWindow is how long the peer has to fail on invalid UTF-8
	// before the fuzzer sends the rest (cases 6.4.x wait one second).
	failFastWindow = time.Second
	// pause stands for Autobahn's one-second waits between the parts of
	// cases 5.19 and 5.20, which only order the frames.
	pause = 100 * time.Millisecond
)
