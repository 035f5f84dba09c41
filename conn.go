package websock

import (
	"context"
	crand "crypto/rand"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/websock/websock/extension"
	"github.com/websock/websock/internal/frame"
	"github.com/websock/websock/internal/readbuf"
)

// MessageType is the type of a data message (RFC 6455 §5.6).
type MessageType int

// Message types.
const (
	TextMessage   MessageType = 1 // UTF-8 text
	BinaryMessage MessageType = 2 // arbitrary bytes
)

func (t MessageType) String() string {
	switch t {
	case TextMessage:
		return "text"
	case BinaryMessage:
		return "binary"
	}
	return "invalid"
}

// writeBufferSize is the size of the buffer that assembles outgoing frames.
const writeBufferSize = 8 << 10

// Conn is a WebSocket connection, on either side.
//
// One goroutine may read (Read, ReadAppend, Reader) while any number of
// goroutines write (Write, Writer, Ping, Close): whole messages never
// interleave, and control frames may go out between the fragments of a
// message. Pings from the peer are answered and close frames handled while
// reading, so an application must keep reading to see them.
//
// The rules every method follows (cancellation, failed writes, memory,
// errors after the end) are in the package documentation, "Connection
// rules".
type Conn struct {
	nc          net.Conn
	rb          readbuf.Reader // holds no pooled buffer while idle
	subprotocol string
	extensions  string
	codec       extension.Codec
	codecUse    codecUse

	readLimit    atomic.Int64
	maxRatio     int64
	budget       *Budget
	metrics      *Metrics
	maxFrame     int64
	closeTimeout time.Duration
	writeTimeout time.Duration

	onPing  atomic.Pointer[func([]byte)]
	onPong  atomic.Pointer[func([]byte)]
	onClose atomic.Pointer[func(StatusCode, string)]

	// Reading; guarded by readSem.
	readSem     *sem
	readErr     error           // sticky: the connection cannot be read any more
	readCtx     context.Context // the context of the read call in progress
	readWatch   ctxWatch        // interrupts blocked reads when readCtx is done
	hdr         frame.Header    // frame being read
	remaining   int64           // its unread payload bytes
	rawSize     int64           // payload bytes of the current message so far
	msg         messageReader
	ctrl        [frame.MaxControlPayload]byte
	interrupted bool // the read call in progress was interrupted (its context, or no data yet)
	inMessage   bool // between the first and the last frame of a message
	closeSent   bool // a close frame was written; guarded by frameSem (kept here, where padding was)

	// Writing. msgSem is held for a whole data message, frameSem for one
	// frame; the fields below are guarded by frameSem.
	msgSem     *sem
	frameSem   *sem
	writeErr   error // sticky: the connection cannot be written any more
	writeWatch ctxWatch
	keys       *rand.ChaCha8
	mw         *messageWriter // Write's, with a codec; Writer hands out writers of its own

	// Closing.
	closeRecv    signal // fired when the peer's close frame arrived (with readSem held)
	peerClose    CloseError
	closed       signal // fired when TCP is closed
	closeOnce    sync.Once
	lastRead     atomic.Int64          // monoNow of the last bytes received, for the watchdog
	msgStart     atomic.Int64          // monoNow of the first frame of the message being read, or 0
	tcpClosed    atomic.Bool           // set first thing by closeTCP
	uncompressed atomic.Bool           // SetWriteCompression(false)
	cause        atomic.Pointer[error] // why closeTCP was called: what later calls report
	lingering    atomic.Bool           // a failed connection is being shut down gently
	server       bool
	codecBits    byte
	maskPos      uint8        // position in the masking key of the frame being read
	closingAt    atomic.Int64 // when the closing handshake this side started times out (Unix ns)

	watchdog *watchdog // nil without keepalive, idle or message timeouts

	tracker *ConnSet // told when TCP is closed, if not nil

	srv atomic.Pointer[served] // set by Serve

	sems [3]sem // what readSem, msgSem and frameSem point to

	pongMu      sync.Mutex
	pongWaiters map[string][]chan struct{}
}

// newConn makes a Conn over nc; buffered holds bytes already read from nc
// after the handshake.
func newConn(nc net.Conn, buffered []byte, cfg connConfig) *Conn {
	c := &Conn{
		nc:           nc,
		server:       cfg.server,
		subprotocol:  cfg.subprotocol,
		extensions:   cfg.extensions,
		codec:        cfg.codec,
		maxFrame:     cfg.MaxFrameSize,
		closeTimeout: cfg.CloseTimeout,
		writeTimeout: cfg.WriteTimeout,
		budget:       cfg.Budget,
		metrics:      cfg.Metrics,
		maxRatio:     int64(cfg.MaxCompressionRatio),
		tracker:      cfg.tracker,
	}
	if c.codec != nil {
		c.codecBits = c.codec.ReservedBits()
	}
	if cfg.ReadLimit == 0 {
		cfg.ReadLimit = DefaultReadLimit
	}
	c.readLimit.Store(cfg.ReadLimit)
	if c.closeTimeout <= 0 {
		c.closeTimeout = DefaultCloseTimeout
	}
	if !c.server {
		var seed [32]byte
		crand.Read(seed[:])
		c.keys = rand.NewChaCha8(seed)
	}
	c.readSem, c.msgSem, c.frameSem = &c.sems[0], &c.sems[1], &c.sems[2]
	c.rb.Reset((*netReader)(c), buffered)
	c.msg.c = c
	if c.codec != nil {
		c.msg.coded = &codedMessage{}
		c.mw = &messageWriter{c: c}
	}
	c.startWatchdog(cfg.ConnOptions)
	c.metrics.opened(c.server)
	return c
}

// netReader is the connection as the reader of its network connection: it
// notes when bytes arrive, for the watchdog.
type netReader Conn

func (r *netReader) Read(p []byte) (int, error) {
	var n int
	var err error
	if s := r.srv.Load(); s != nil && s.nonblock.Load() {
		n, err = s.src.read(p)
	} else {
		n, err = r.nc.Read(p)
	}
	if n > 0 && r.watchdog != nil {
		r.lastRead.Store(monoNow())
	}
	return n, err
}

// Subprotocol returns the subprotocol agreed in the handshake, or "".
func (c *Conn) Subprotocol() string { return c.subprotocol }

// Extensions returns the Sec-WebSocket-Extensions value agreed in the
// handshake, or "".
func (c *Conn) Extensions() string { return c.extensions }

// LocalAddr returns the local network address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// RemoteAddr returns the peer's network address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// SetReadLimit sets the largest message, in bytes after decompression, that
// reads accept; a larger message fails the connection with status 1009. As
// for ConnOptions.ReadLimit, 0 means DefaultReadLimit and a negative limit
// means none. It may be called at any time; it applies from the next byte
// read.
func (c *Conn) SetReadLimit(n int64) {
	if n == 0 {
		n = DefaultReadLimit
	}
	c.readLimit.Store(n)
}

// OnPing sets a function called with the payload of each ping from the peer,
// before the pong is sent. The payload is a copy the function may keep. It
// may be called at any time, from any goroutine; nil removes the function.
func (c *Conn) OnPing(f func(payload []byte)) { storeCallback(&c.onPing, f) }

// OnPong sets a function called with the payload of each pong from the peer,
// like OnPing.
func (c *Conn) OnPong(f func(payload []byte)) { storeCallback(&c.onPong, f) }

func storeCallback(p *atomic.Pointer[func([]byte)], f func([]byte)) {
	if f == nil {
		p.Store(nil)
		return
	}
	p.Store(&f)
}

// callback calls the function in p, if any, with a copy of payload.
func callback(p *atomic.Pointer[func([]byte)], payload []byte) {
	if f := p.Load(); f != nil {
		(*f)(append([]byte(nil), payload...))
	}
}

// closeTCP closes the network connection once, records why (cause, which
// later calls report wrapped with ErrClosed) and releases everything
// waiting on it.
func (c *Conn) closeTCP(cause error) {
	c.closeOnce.Do(func() {
		err := closedError(cause)
		c.cause.Store(&err)
		c.tcpClosed.Store(true)
		if c.watchdog != nil {
			c.watchdog.stop()
		}
		if c.tracker != nil {
			c.tracker.remove(c) // before the peer can see the end
		}
		c.metrics.ended(c.server, cause)
		c.nc.Close()
		c.readWatch.release()
		c.writeWatch.release()
		c.closed.fire()
		c.msg.uncharge()
		c.codecUse.end(c.codec)
		if s := c.srv.Load(); s != nil {
			s.ready() // the poller is not told of a socket closed here
		}
	})
}

// closedErr returns what calls on a closed connection report: an error
// that wraps ErrClosed and why the connection was closed.
func (c *Conn) closedErr() error {
	if p := c.cause.Load(); p != nil {
		return *p
	}
	return ErrClosed
}

// CloseNow closes the TCP connection at once, without a closing handshake.
// It is safe to call at any time and more than once; use it in a defer next
// to a Close that performs the handshake. Every call after it fails with
// ErrClosed. After a protocol failure, the connection is already being shut
// down in the background (bounded by a second) so that the close frame
// reaches the peer, and CloseNow leaves that to finish.
func (c *Conn) CloseNow() error {
	if !c.lingering.Load() {
		c.closeTCP(ErrClosed)
	}
	return nil
}
