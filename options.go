package websock

import (
	"time"

	"github.com/websock/websock/extension"
)

// Default limits, used when options leave them zero.
const (
	DefaultReadLimit        = 32 << 20 // bytes in one message, after decompression
	DefaultCloseTimeout     = 5 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
)

// ConnOptions holds the settings of a connection that are the same on both
// sides; AcceptOptions and DialOptions embed it.
type ConnOptions struct {
	// ReadLimit is the largest message accepted, in bytes after
	// decompression; 0 means DefaultReadLimit, negative means no limit.
	// A larger message fails the connection with status 1009. A
	// compressed message may also take at most ReadLimit + ReadLimit/8 +
	// 1 KiB on the wire, which no honest compressor exceeds.
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
	// each interval in which no byte arrived from the peer; if no byte
	// arrives within PongTimeout after it either, the peer is considered
	// gone and the connection is closed (calls fail with
	// ErrKeepaliveTimeout). A peer streaming a large frame slowly is alive
	// as long as its bytes keep coming. Pongs are seen while the connection
	// is read, as always.
	PingInterval time.Duration

	// PongTimeout is how long to wait for the peer after a keepalive ping;
	// 0 means PingInterval.
	PongTimeout time.Duration

	// IdleTimeout, when positive, closes a connection from whose peer no
	// byte has arrived for that long: a close frame with status 1001
	// ("idle timeout"), then TCP; calls fail with ErrIdleTimeout. Pongs
	// count as bytes, so with keepalive on, a live peer is never idle.
	IdleTimeout time.Duration

	// MessageTimeout, when positive, bounds the time from a message's
	// first frame to its last, as the connection reads them: a message
	// still unfinished then gets close status 1008 ("message timeout")
	// and the connection is closed (ErrMessageTimeout), so that a peer
	// cannot hold a half-sent message, and its memory, for ever. Time
	// the application takes to read a streamed message counts too. As
	// after a protocol error, what the peer still sends is read and
	// dropped until it closes (at most a second), so that the close frame
	// reaches it before TCP is closed.
	MessageTimeout time.Duration

	// MaxCompressionRatio, when positive, bounds how much a compressed
	// message may inflate: to at most this many times its size on the
	// wire, plus 64 KiB. Beyond, the connection fails with status 1009,
	// so that the work and memory a message costs follow the bytes the
	// peer sent (a 30 KiB "zip bomb" inflates to 30 MiB: a ratio of
	// 1,000; ordinary text compresses 3 to 20 times). 0 means no bound
	// beyond ReadLimit.
	MaxCompressionRatio int

	// Budget, when not nil, bounds the memory that all the connections
	// sharing it hold for messages being read (see Budget).
	Budget *Budget

	// Metrics, when not nil, counts the events of the connection along
	// with those of the others sharing it (see Metrics).
	Metrics *Metrics
}

// connConfig is what both sides set up on a new Conn.
type connConfig struct {
	ConnOptions
	server      bool
	subprotocol string
	extensions  string
	codec       extension.Codec
	tracker     *ConnSet
}
