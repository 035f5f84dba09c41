package websock

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
)

// Events are the callbacks of a connection whose reading is done by Serve
// (or EventHandler) instead of by calls to Read.
//
// A served connection follows the same rules as one read with Read: pings
// are answered, close frames handled, limits enforced with the same close
// codes, timeouts, Budget, Metrics and ConnSet apply. Writes (Write,
// Writer, Ping, Close, ...) are unchanged and may be made from OnMessage
// or any other goroutine.
type Events struct {
	// OnOpen, if not nil, is called by EventHandler with the connection
	// and its request once the handshake is done, before the first
	// message. Serve does not call it.
	OnOpen func(c *Conn, r *http.Request)

	// OnMessage is called with each whole message, in order and one at a
	// time per connection (messages of different connections are
	// delivered concurrently). data is valid until OnMessage returns; it
	// must be copied to be kept. A message is never delivered in part.
	// If nil, messages are read and dropped.
	OnMessage func(c *Conn, typ MessageType, data []byte)

	// OnEnd, if not nil, is called once, when reading has ended, with the
	// error Read would have returned: a *CloseError when the peer closed
	// the connection, an error wrapping ErrClosed after CloseNow, and so
	// on. No OnMessage call follows it.
	OnEnd func(c *Conn, err error)
}

// errServed is what the read calls return on a connection given to Serve.
var errServed = errors.New("websock: the connection is read by Serve: Read, ReadAppend and Reader cannot be used on it")

// Serve hands the reading of c over and returns at once: from then on
// every message is passed to ev.OnMessage and the end of reading to
// ev.OnEnd. c must not be read otherwise; Read, ReadAppend and Reader fail
// with an error saying so. Serve fails if c is already served or a read
// call is in progress.
//
// On Linux, a connection over a plain TCP (or Unix) socket costs no
// goroutine while no data is arriving: a poller watches its socket, and a
// goroutine is borrowed only while a message is read and delivered. A
// message that arrives in pieces (a peer sending one byte at a time) is
// gathered between the pieces without holding a goroutine. Other
// connections (TLS, HTTP/2 streams, other systems) get a goroutine that
// reads them, with the same callbacks.
func (c *Conn) Serve(ev Events) error {
	s, err := c.startServe(ev)
	if err != nil {
		return err
	}
	if s.src == nil {
		go s.run(new([]byte)) // reads until the end
		return nil
	}
	// The first run reads what arrived before the poller was watching.
	theReaders.schedule(s)
	return nil
}

// EventHandler returns an http.Handler that accepts WebSocket connections
// with opts, calls ev.OnOpen and serves each connection with Serve. The
// HTTP handler returns at once, so that net/http's goroutine and buffers
// for the request are not held for the life of the connection. Over
// HTTP/2 (RFC 8441), where the connection is a stream that ends with the
// HTTP handler, the handler reads the stream itself and returns when
// reading has ended.
func EventHandler(opts *AcceptOptions, ev Events) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, opts)
		if err != nil {
			return
		}
		if ev.OnOpen != nil {
			ev.OnOpen(c, r)
		}
		if r.ProtoMajor == 2 {
			s, err := c.startServe(ev)
			if err != nil {
				c.CloseNow()
				return
			}
			s.run(new([]byte)) // an HTTP/2 stream has no socket: this reads until the end
			return
		}
		if err := c.Serve(ev); err != nil {
			c.CloseNow()
		}
	})
}

// The states of a served connection.
const (
	stateIdle    = iota // the poller watches it; no goroutine
	stateRunning        // a goroutine is reading it
	statePending        // running, and more data was signalled since
	stateEnded          // OnEnd has been called
)

// served is the reading state of a connection given to Serve.
type served struct {
	c  *Conn
	ev Events

	// src reads without waiting: errWouldBlock when nothing has arrived.
	// nil when a goroutine reads the connection the ordinary way.
	src      pollSource
	nonblock atomic.Bool // reads go through src (set only while the reader holds readSem)
	hangup   atomic.Bool // the poller saw the peer's end (or an error) on the socket
	state    atomic.Int32
	reg      pollReg // the poller's handle

	// part holds what has arrived of a message whose rest has not, in
	// the buffer it will be delivered in.
	part *[]byte
}

// pollSource reads from a socket without waiting.
type pollSource interface {
	// read reads what has arrived, or returns errWouldBlock.
	read(p []byte) (int, error)
	// register asks the poller to call s.ready when data arrives.
	register(s *served) error
	// unregister stops that; the connection may still be open.
	unregister(s *served)
}

// errWouldBlock is what a pollSource returns when nothing has arrived; the
// read path treats it as an interruption that keeps the message.
var errWouldBlock = errors.New("websock: no data yet")

// startServe makes c a served connection.
func (c *Conn) startServe(ev Events) (*served, error) {
	if !c.readSem.tryAcquire() {
		return nil, errors.New("websock: serve: a read call is in progress")
	}
	defer release(&c.readSem)
	if c.srv.Load() != nil {
		return nil, errors.New("websock: serve: the connection is already served")
	}
	s := &served{c: c, ev: ev}
	s.state.Store(stateRunning)
	s.src = newPollSource(c)
	if s.src != nil {
		if err := s.src.register(s); err != nil {
			s.src = nil
		}
	}
	c.srv.Store(s)
	return s, nil
}

// ready is called when data has arrived, or the connection was closed:
// it starts a reading goroutine unless one is running, which then reads
// again before leaving.
func (s *served) ready() {
	for {
		switch st := s.state.Load(); st {
		case stateIdle:
			if s.state.CompareAndSwap(stateIdle, stateRunning) {
				theReaders.schedule(s)
				return
			}
		case stateRunning:
			if s.state.CompareAndSwap(stateRunning, statePending) {
				return
			}
		default:
			return
		}
	}
}

// park hands the connection back to the poller after a read found nothing,
// unless data was signalled meanwhile: then it reports false and the
// caller reads again.
func (s *served) park() bool {
	if s.state.CompareAndSwap(stateRunning, stateIdle) {
		return true
	}
	s.state.Store(stateRunning) // was pending
	return false
}

// run reads and delivers messages until nothing more has arrived (the
// connection goes back to the poller) or reading ends. buf is the
// caller's buffer for messages, which it keeps from one connection to the
// next.
func (s *served) run(buf *[]byte) {
	c := s.c
	for {
		typ, data, err := c.readServed(s, buf)
		if err == errWouldBlock {
			if s.park() {
				return
			}
			continue
		}
		if err != nil {
			s.end(err)
			return
		}
		if s.ev.OnMessage != nil {
			s.ev.OnMessage(c, typ, data)
		}
		if cap(data) <= maxKeptBuffer {
			*buf = data[:0]
		}
	}
}

// end calls OnEnd, once.
func (s *served) end(err error) {
	s.state.Store(stateEnded)
	if s.src != nil {
		s.src.unregister(s)
	}
	s.part = nil
	if s.ev.OnEnd != nil {
		s.ev.OnEnd(s.c, err)
	}
}

// maxKeptBuffer is the largest message buffer a reader keeps for the next
// message: larger ones are left to the collector.
const maxKeptBuffer = 64 << 10

// readServed reads the next whole message for a served connection into
// *buf (or, if a message was begun, into its own buffer). A message that
// has not arrived whole takes its buffer with it, in s.part (nonblocking
// sources only), and errWouldBlock is returned.
func (c *Conn) readServed(s *served, buf *[]byte) (MessageType, []byte, error) {
	var dst []byte
	own := s.part != nil
	if own {
		dst, s.part = *s.part, nil
	} else {
		dst = (*buf)[:0]
	}
	var typ MessageType
	err := c.readOp(context.Background(), func() error {
		if s.src != nil {
			s.nonblock.Store(true)
			defer s.nonblock.Store(false)
		}
		if err := c.beginMessage(); err != nil {
			return err
		}
		m := &c.msg
		typ = m.typ
		dst = append(dst, m.takeKept()...)
		var err error
		dst, err = m.readAll(dst, 0)
		m.kept = nil
		if c.interrupted && m.active {
			// The message keeps its buffer until the rest arrives.
			part := dst
			s.part = &part
			if !own {
				*buf = nil
			}
			m.resume = true
		}
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	return typ, dst, nil
}

// blockingReads makes the rest of the reads of c wait for data, for the
// drains that end a connection (lingering close, a client waiting for the
// server's EOF). It runs with the read semaphore held.
func (c *Conn) blockingReads() {
	if s := c.srv.Load(); s != nil {
		s.nonblock.Store(false)
	}
}
