package main

// descriptorReserve is the number of file descriptors kept for what is not
// a connection: listeners, certificate files, standard streams, the
// runtime's poller.
const descriptorReserve = 64

// connCaps are the caps on connections derived from -max-conns and the
// file descriptor limit.
type connCaps struct {
	websocket   int    // WebSocket connections and handshakes (ConnSet.MaxConns); 0: no cap
	tcp         int    // open TCP connections of any kind; 0: no cap
	descriptors uint64 // the file descriptor limit; 0: unknown
	lowered     bool   // -max-conns did not fit the descriptor limit
}

// connCapsFor derives the caps: TCP connections may exceed WebSocket
// connections by a margin, so that a client refused for the WebSocket cap
// gets its 503 and plain HTTP requests get an answer; both fit within the
// descriptor limit fdLimit (0: unknown). maxConns 0 means as many as the
// descriptors allow.
func connCapsFor(maxConns int, fdLimit uint64) connCaps {
	caps := connCaps{websocket: maxConns, descriptors: fdLimit}
	if maxConns > 0 {
		caps.tcp = maxConns + httpMargin(maxConns)
	}
	if fdLimit == 0 {
		return caps
	}
	avail := int(min(fdLimit, 1<<30))
	if avail > 2*descriptorReserve {
		avail -= descriptorReserve
	} else {
		avail /= 2
	}
	if caps.tcp == 0 || caps.tcp > avail {
		caps.tcp = avail
		caps.websocket = max(avail-httpMargin(avail), 1)
		caps.lowered = maxConns > 0
	}
	return caps
}

// httpMargin is how many TCP connections beyond the WebSocket cap n are
// left for plain HTTP: refusals, other paths, keep-alive.
func httpMargin(n int) int { return max(16, n/16) }
