package websock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/websock/websock/extension"
)

// TestRandomCancellations: many connections, each with a sender and a
// receiver that use random per-call deadlines and cancellations, plain and
// compressed, whole and streamed, fragmented, with pings in between. Every
// message is either delivered whole, in order, or the connection has
// failed with an error: never a partial message with a nil error, never a
// message that was reported unsent, never a wedge.
func TestRandomCancellations(t *testing.T) {
	t.Run("tcp", func(t *testing.T) { testRandomCancellations(t, false) })
	// Each connection a stream of one HTTP/2 connection (RFC 8441).
	t.Run("http2", func(t *testing.T) { testRandomCancellations(t, true) })
}

func testRandomCancellations(t *testing.T, overHTTP2 bool) {
	conns, msgs := 12, 150
	if testing.Short() {
		conns, msgs = 6, 60
	}
	type result struct {
		received []uint32
		err      error
		problems []string
	}
	results := make(chan result, conns)
	seeds := make(chan uint64, conns)
	for i := 0; i < conns; i++ {
		seeds <- uint64(i)*7919 + 1
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		opts := &AcceptOptions{Extensions: []extension.Extension{&PerMessageDeflate{Threshold: -1}}}
		c, err := Accept(w, r, opts)
		if err != nil {
			results <- result{err: err}
			return
		}
		defer c.CloseNow()
		rng := rand.New(rand.NewPCG(<-seeds, 2))
		var res result
		var buf []byte
		for {
			ctx, cancel := randomContext(rng, 5*time.Millisecond, 50)
			var typ MessageType
			var msg []byte
			var err error
			if rng.IntN(4) == 0 {
				// Streamed, without interruption (an interrupted stream is
				// discarded by rule).
				var r io.Reader
				if typ, r, err = c.Reader(context.Background()); err == nil {
					msg, err = io.ReadAll(r)
				}
			} else {
				typ, buf, err = c.ReadAppend(ctx, buf[:0])
				msg = buf
			}
			cancel()
			if err != nil {
				if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
					if len(msg) != 0 {
						res.problems = append(res.problems, fmt.Sprintf("interrupted read returned %d bytes", len(msg)))
					}
					continue
				}
				res.err = err
				break
			}
			seq, problem := checkMessage(typ, msg)
			if problem != "" {
				res.problems = append(res.problems, problem)
			}
			res.received = append(res.received, seq)
		}
		results <- res
	})
	url, h2 := "", (*HTTP2Client)(nil)
	if overHTTP2 {
		url, h2 = newH2Server(t, handler).wsURL(), newH2Client(t)
	} else {
		srv := httptest.NewServer(handler)
		defer srv.Close()
		url = urlOf(srv.URL)
	}

	var wg sync.WaitGroup
	type sent struct {
		ok     []uint32
		failed error // the error that ended the connection for the sender
		clean  bool  // the sender closed with 1000 without failing
	}
	sends := make([]sent, conns)
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 3))
			c, _, err := Dial(context.Background(), url, &DialOptions{HTTP2: h2, Extensions: []extension.Extension{&PerMessageDeflate{Threshold: -1, ServerNoContextTakeover: i%3 == 0}}})
			if err != nil {
				sends[i].failed = err
				return
			}
			defer c.CloseNow()
			// The client's reader sees pongs and the end.
			readDone := make(chan struct{})
			go func() {
				defer close(readDone)
				for {
					if _, _, err := c.Read(context.Background()); err != nil {
						return
					}
				}
			}()
			s := &sends[i]
			for seq := uint32(0); seq < uint32(msgs); seq++ {
				if rng.IntN(10) == 0 {
					ctx, cancel := randomContext(rng, 2*time.Millisecond, 50)
					c.Ping(ctx, []byte("p"))
					cancel()
				}
				ctx, cancel := randomContext(rng, 2*time.Millisecond, 2)
				err := sendMessage(ctx, c, rng, seq)
				cancel()
				if err == nil {
					s.ok = append(s.ok, seq)
					continue
				}
				if errors.Is(err, ErrClosed) || errors.Is(err, ErrMessageAbandoned) {
					s.failed = err
					return
				}
				// Not sent: the connection must be unharmed.
			}
			if err := c.Close(StatusNormalClosure, ""); err != nil {
				s.failed = err
				return
			}
			s.clean = true
			<-readDone
		}(i)
	}
	wg.Wait()
	timeout := time.After(hangGuard)
	var got []result
	for i := 0; i < conns; i++ {
		select {
		case r := <-results:
			got = append(got, r)
		case <-timeout:
			t.Fatalf("%d of %d receivers never ended: wedged", conns-i, conns)
		}
	}
	// Match receivers to senders by the sequence numbers they saw: each
	// receiver's list must be a prefix of (or equal to) one sender's.
	cleanSenders, cleanReceivers, failures := 0, 0, 0
	for _, s := range sends {
		if s.clean {
			cleanSenders++
		} else {
			failures++
		}
	}
	for _, r := range got {
		for _, p := range r.problems {
			t.Error(p)
		}
		var ce *CloseError
		if errors.As(r.err, &ce) && ce.Code == StatusNormalClosure {
			cleanReceivers++
		}
		if !increasing(r.received) {
			t.Errorf("messages out of order: %v", r.received)
		}
		matched := false
		for _, s := range sends {
			if s.clean && errors.As(r.err, &ce) && equalSeqs(r.received, s.ok) {
				matched = true
			}
			if !s.clean && isPrefix(r.received, s.ok) {
				matched = true
			}
		}
		if !matched {
			t.Errorf("receiver got %d messages ending with %v, matching no sender's successful writes", len(r.received), r.err)
		}
	}
	if cleanReceivers != cleanSenders {
		t.Errorf("%d senders closed cleanly but %d receivers saw a clean close", cleanSenders, cleanReceivers)
	}
	t.Logf("%d connections: %d ended cleanly, %d failed as the rules say", conns, cleanSenders, failures)
}

// randomContext returns a context that is, at random, never done, already
// cancelled, done after up to max (in about shortPercent of the calls), or
// done after a second.
func randomContext(rng *rand.Rand, max time.Duration, shortPercent int) (context.Context, context.CancelFunc) {
	switch n := rng.IntN(100); {
	case n < 10:
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return ctx, cancel
	case n < 10+shortPercent:
		return context.WithTimeout(context.Background(), time.Duration(rng.Int64N(int64(max))))
	case n < 55+shortPercent/2:
		return context.WithCancel(context.Background())
	default:
		return context.WithTimeout(context.Background(), time.Second)
	}
}

// sendMessage sends message seq, whole or streamed in random pieces.
func sendMessage(ctx context.Context, c *Conn, rng *rand.Rand, seq uint32) error {
	size := rng.IntN(4 << 10)
	if rng.IntN(8) == 0 {
		size = rng.IntN(200 << 10)
	}
	msg := messageFor(seq, size)
	if rng.IntN(2) == 0 {
		return c.Write(ctx, TextMessage, msg)
	}
	w, err := c.Writer(ctx, TextMessage)
	if err != nil {
		return err
	}
	for len(msg) > 0 {
		n := min(len(msg), 1+rng.IntN(20<<10))
		if _, err := w.Write(msg[:n]); err != nil {
			w.Close()
			return err
		}
		msg = msg[n:]
	}
	return w.Close()
}

// messageFor returns message seq: a header with its number and size, then
// bytes that depend on both.
func messageFor(seq uint32, size int) []byte {
	b := fmt.Appendf(nil, "%08x%08x", seq, size)
	return append(b, pattern(size, byte(seq))...)
}

// checkMessage returns the number of a message and what is wrong with it.
func checkMessage(typ MessageType, msg []byte) (uint32, string) {
	var seq uint32
	var size int
	if len(msg) < 16 {
		return 0, fmt.Sprintf("message of %d bytes has no header", len(msg))
	}
	if _, err := fmt.Sscanf(string(msg[:16]), "%08x%08x", &seq, &size); err != nil {
		return 0, "bad header " + string(msg[:16])
	}
	if typ != TextMessage || !bytes.Equal(msg, messageFor(seq, size)) {
		return seq, fmt.Sprintf("message %d: %d bytes, not the %d sent", seq, len(msg)-16, size)
	}
	return seq, ""
}

func increasing(s []uint32) bool {
	for i := 1; i < len(s); i++ {
		if s[i] <= s[i-1] {
			return false
		}
	}
	return true
}

func isPrefix(p, s []uint32) bool { return len(p) <= len(s) && equalSeqs(p, s[:len(p)]) }

func equalSeqs(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
