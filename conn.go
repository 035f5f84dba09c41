package websock

import (
	"context"
	crand "crypto/rand"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

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

// Default limits, used when options leave them zero.
const (
	DefaultReadLimit        = 32 << 20 // bytes in one message, after decompression
	DefaultCloseTimeout     = 5 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
)

// writeBufferSize is the size of the buffer that assembles outgoing frames.
const writeBufferSize = 8 << 10

// Conn is a WebSocket connection, on either side.
//
// One goroutine may read (Read, Reader) while any number of goroutines write
// (Write, Writer, Ping, Close): whole messages never interleave, and control
// frames may go out between the fragments of a message. Pings from the peer
// are answered and close frames handled while reading, so an application
// must keep reading to see them.
type Conn struct {
	nc          net.Conn
	rb          readbuf.Reader // holds no pooled buffer while idle
	server      bool
	subprotocol string
	extensions  string
	codec       Codec
	codecBits   byte

	readLimit    atomic.Int64
	maxFrame     int64
	closeTimeout time.Duration
	writeTimeout time.Duration

	readWatch  ctxWatch // guarded by readSem
	writeWatch ctxWatch // guarded by frameSem

	onPing func([]byte)
	onPong func([]byte)

	// Reading; guarded by readSem.
	readSem   chan struct{}
	readErr   error
	hdr       frame.Header // frame being read
	remaining int64        // its unread payload bytes
	maskPos   int
	inMessage bool  // between the first and the last frame of a message
	rawSize   int64 // payload bytes of the current message so far
	frames    frameReader
	msg       messageReader
	ctrl      [frame.MaxControlPayload]byte

	// Writing. msgSem is held for a whole data message, frameSem for one
	// frame; the fields below are guarded by frameSem.
	msgSem    chan struct{}
	frameSem  chan struct{}
	writeErr  error
	closeSent bool
	keys      *rand.ChaCha8
	mw        messageWriter

	// Closing.
	closeRecv     chan struct{} // closed when the peer's close frame arrived
	closeRecvOnce sync.Once
	peerClose     CloseError
	closed        chan struct{} // closed when TCP is closed
	closeOnce     sync.Once
	tcpClosed     atomic.Bool  // set first thing by closeTCP
	lingering     atomic.Bool  // a failed connection is being shut down gently
	closingAt     atomic.Int64 // when the closing handshake this side started times out (Unix ns)

	// Keepalive; the timer's function is the only user of the plain fields.
	keepalive      *time.Timer
	pingInterval   time.Duration
	pongTimeout    time.Duration
	framesIn       atomic.Uint32 // frames received, as a sign of life
	lastFramesIn   uint32
	pingPending    bool
	keepaliveFired atomic.Bool

	tracker *Tracker // told when TCP is closed, if not nil

	pongMu      sync.Mutex
	pongWaiters map[string][]chan struct{}
}

// ConnOptions holds the settings of a connection that are the same on both
// sides; AcceptOptions and DialOptions embed it.
type ConnOptions struct {
	// ReadLimit is the largest message accepted, in bytes after
	// decompression; 0 means DefaultReadLimit, negative means no limit.
	// A larger message fails the connection with status 1009.
	ReadLimit int64

	// MaxFrameSize is the largest frame payload accepted; 0 means no limit
	// beyond ReadLimit.
	MaxFrameSize int64

	// CloseTimeout bounds each wait of the closing handshake; 0 means
	// DefaultCloseTimeout.
	CloseTimeout time.Duration

	// WriteTimeout bounds the writing of each frame, so that a peer that
	// stops reading cannot block writers forever: on expiry the connection
	// is closed and writes fail with ErrWriteTimeout. 0 means no bound
	// beyond the contexts given to writes.
	WriteTimeout time.Duration

	// PingInterval, when positive, makes the connection send a ping after
	// each interval in which nothing arrived from the peer; if nothing
	// arrives within PongTimeout after it, the peer is considered gone and
	// the connection is closed (reads fail with ErrKeepaliveTimeout).
	// Pongs are seen while the connection is read, as always.
	PingInterval time.Duration

	// PongTimeout is how long to wait for the peer after a keepalive ping;
	// 0 means PingInterval.
	PongTimeout time.Duration
}

// connConfig is what both sides set up on a new Conn.
type connConfig struct {
	ConnOptions
	server      bool
	subprotocol string
	extensions  string
	codec       Codec
	tracker     *Tracker
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
		tracker:      cfg.tracker,
		readSem:      make(chan struct{}, 1),
		msgSem:       make(chan struct{}, 1),
		frameSem:     make(chan struct{}, 1),
		closeRecv:    make(chan struct{}),
		closed:       make(chan struct{}),
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
	c.rb.Reset(nc, buffered)
	c.frames.c = c
	c.msg.c = c
	c.mw.c = c
	if cfg.PingInterval > 0 {
		c.pingInterval, c.pongTimeout = cfg.PingInterval, cfg.PongTimeout
		if c.pongTimeout <= 0 {
			c.pongTimeout = c.pingInterval
		}
		c.keepalive = time.AfterFunc(c.pingInterval, c.keepaliveTick)
	}
	return c
}

// keepaliveTick runs after each keepalive period: if frames arrived in it,
// the peer is alive; otherwise it is pinged, and if nothing arrives within
// the pong timeout either, the connection is closed.
func (c *Conn) keepaliveTick() {
	select {
	case <-c.closed:
		return
	default:
	}
	n := c.framesIn.Load()
	alive := n != c.lastFramesIn
	c.lastFramesIn = n
	switch {
	case alive:
		c.pingPending = false
		c.keepalive.Reset(c.pingInterval)
	case c.pingPending:
		c.keepaliveFired.Store(true)
		c.closeTCP()
	default:
		c.pingPending = true
		c.writeFrame(context.Background(), c.pongTimeout, true, 0, frame.OpPing, nil)
		c.keepalive.Reset(c.pongTimeout)
	}
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
// reads accept; a larger message fails the connection with status 1009. A
// limit of 0 or less removes the limit.
func (c *Conn) SetReadLimit(n int64) { c.readLimit.Store(n) }

// OnPing sets a function called with the payload of each ping from the peer,
// before the pong is sent. Set it before reading.
func (c *Conn) OnPing(f func(payload []byte)) { c.onPing = f }

// OnPong sets a function called with the payload of each pong from the peer.
// Set it before reading.
func (c *Conn) OnPong(f func(payload []byte)) { c.onPong = f }

// acquire takes the semaphore sem, waiting at most until ctx is done, the
// timeout (if positive) has passed or, for the write semaphores, the
// connection is closed. (The read semaphore is always released soon once the
// connection is closed, and the reader then wants the error that ended it.)
func (c *Conn) acquire(ctx context.Context, sem chan struct{}, timeout time.Duration) error {
	select {
	case sem <- struct{}{}:
		return nil
	default:
	}
	var closed <-chan struct{}
	if sem != c.readSem {
		closed = c.closed
	}
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	select {
	case sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-expired:
		return context.DeadlineExceeded
	case <-closed:
		return ErrClosed
	}
}

func release(sem chan struct{}) { <-sem }

// longAgo is a deadline in the past, which interrupts blocked I/O.
var longAgo = time.Unix(1, 0)

// Which deadline a ctxWatch sets.
const (
	readSide  = 1
	writeSide = 2
	bothSides = readSide | writeSide
)

// ctxWatch interrupts the blocked I/O of one side of a connection when a
// context is done, by setting that side's deadline in the past. It stays
// registered across operations that use the same context, so that the
// common case (every call with the same request context) costs nothing
// after the first. Its user serializes the calls.
type ctxWatch struct {
	ctx  context.Context
	stop func() bool
	done chan struct{}
}

// arm makes sure side of nc is interrupted when ctx is done.
func (w *ctxWatch) arm(ctx context.Context, nc net.Conn, side int, restore time.Time) {
	if ctx.Done() == nil || ctx == w.ctx {
		return
	}
	w.disarm(nc, side, restore)
	done := make(chan struct{})
	w.ctx, w.done = ctx, done
	w.stop = context.AfterFunc(ctx, func() {
		setDeadline(nc, side, longAgo)
		close(done)
	})
}

// interrupted reports, after an operation, whether the context is done; it
// then drops the registration and puts the deadline back to restore.
func (w *ctxWatch) interrupted(nc net.Conn, side int, restore time.Time) bool {
	if w.ctx == nil || w.ctx.Err() == nil {
		return false
	}
	w.disarm(nc, side, restore)
	return true
}

// disarm drops the registration, undoing its effect if it has fired.
func (w *ctxWatch) disarm(nc net.Conn, side int, restore time.Time) {
	if w.ctx == nil {
		return
	}
	if !w.stop() {
		<-w.done
		setDeadline(nc, side, restore)
	}
	w.ctx, w.stop, w.done = nil, nil, nil
}

func setDeadline(nc net.Conn, side int, t time.Time) {
	switch side {
	case readSide:
		nc.SetReadDeadline(t)
	case writeSide:
		nc.SetWriteDeadline(t)
	default:
		nc.SetDeadline(t)
	}
}

// closeTCP closes the network connection once and releases everything
// waiting on it.
func (c *Conn) closeTCP() {
	c.closeOnce.Do(func() {
		c.tcpClosed.Store(true)
		if c.keepalive != nil {
			c.keepalive.Stop()
		}
		if c.tracker != nil {
			c.tracker.remove(c) // before the peer can see the end
		}
		c.nc.Close()
		close(c.closed)
	})
}

// CloseNow closes the TCP connection at once, without a closing handshake.
// It is safe to call at any time and more than once; use it in a defer next
// to a Close that performs the handshake. After a protocol failure, the
// connection is already being shut down in the background (bounded by a
// second) so that the close frame reaches the peer, and CloseNow leaves
// that to finish.
func (c *Conn) CloseNow() error {
	if !c.lingering.Load() {
		c.closeTCP()
	}
	return nil
}
