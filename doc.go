// Package websock implements the WebSocket protocol (RFC 6455) with
// permessage-deflate compression (RFC 7692), for servers and clients.
//
// A server upgrades HTTP requests with Accept, from any http.Handler:
//
//	http.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
//		c, err := websock.Accept(w, r, nil)
//		if err != nil {
//			return // Accept has answered the request with the reason
//		}
//		defer c.CloseNow()
//		for {
//			typ, msg, err := c.Read(r.Context())
//			if err != nil {
//				return
//			}
//			if err := c.Write(r.Context(), typ, msg); err != nil {
//				return
//			}
//		}
//	})
//
// Over HTTP/2, Accept takes the extended CONNECT of RFC 8441 (browsers
// send it when the server advertises it, with GODEBUG=http2xconnect=1 at
// start), and Dial with an HTTP2Client opens many WebSockets on one
// connection; the connection then runs over the stream with the same
// rules.
//
// A server with many mostly idle connections can hand their reading to the
// library instead (EventHandler, or Conn.Serve after Accept or Dial): each
// whole message goes to a callback, and on Linux a connection holds no
// goroutine while nothing arrives; the connection rules are the same.
//
// A client connects with Dial. Both sides get a *Conn: read and write whole
// messages with Read and Write, or stream them with Reader and Writer; end
// the connection with Close, which performs the closing handshake.
//
// The connection enforces the protocol as RFC 6455 requires: a peer that
// breaks a rule gets a close frame with the matching status code (1002 for
// protocol errors, 1007 for text that is not UTF-8, 1009 for messages above
// the read limit) and then the TCP connection is closed.
//
// # Connection rules
//
// Every method of Conn follows these rules; the tests check each at every
// point where a call can stop.
//
// Contexts. A context bounds only the call it is passed to: it interrupts
// a call in progress that was given it, and nothing else, so cancelling it
// afterwards (a deferred cancel of a per-call timeout) does nothing. A
// context that can never be done (context.Background, or the one Handler
// passes) costs nothing. One that can (a request's, a subscription's) is
// watched once per side of the connection, not once per call: the watch
// stays for the next call given the same context and is dropped when the
// context ends, when a call is given another, or when the connection
// ends. A call whose context is already done returns its error and does
// nothing.
//
// Reading. Read and ReadAppend return a message whole or not at all. If
// the context ends first, wherever the read stands (waiting for the read
// lock, before a frame, inside a header, inside a control frame, inside a
// payload, between fragments, inside a compressed message), the call
// returns the context's error and no data, and the connection keeps what
// it has received: the next read call continues the same message. A
// message streamed with Reader is delivered as it arrives; a stream left
// before io.EOF, for any reason, is read through and discarded by the next
// read call, and the old reader fails from then on. Control frames are
// read whole before they are acted on, so they are never half-handled.
//
// Writing. A write whose context ends before its message has started
// (waiting for its turn or for the frame lock) returns the context's error
// and sends nothing. Once a message has started (a frame of it on the
// wire, or, when compressing, its data given to the compressor, whose
// history the peer shares), it cannot be taken back: any failure closes
// the connection, and the error wraps ErrMessageAbandoned and the cause.
// A frame cut short (the context or the write timeout ending inside a
// frame) closes the connection too. Each Writer call returns a writer of
// its own: a stale Close cannot end another message.
//
// Memory follows the bytes received, never a length a peer claims: a
// header announcing a large payload reserves nothing; buffers grow as data
// arrives, bounded by the read limit (a compressed message may take at
// most the limit plus an eighth and 1 KiB on the wire). A compressed
// message is gathered, then decoded from memory, so that the decoder
// never waits for the network. Buffers are borrowed from pools while a
// message is in flight and given back when it ends; an idle connection
// holds none, and its codec gives everything back when the connection
// ends.
//
// Errors. The error that ends reading (a protocol failure, the peer's
// close frame as a *CloseError, the connection lost without one) is
// sticky: every later read returns it. Once TCP is closed, the other calls
// return an error that wraps ErrClosed and, when there was one, the reason
// (ErrKeepaliveTimeout, ErrWriteTimeout, ErrCloseTimeout,
// ErrMessageAbandoned, the protocol error); after CloseNow, reads too, and
// just ErrClosed. Writes after a close frame was sent return ErrClosed.
// Close returns nil once the closing handshake is complete, and
// ErrCloseTimeout if the close frame could not be sent or answered in
// time.
package websock
