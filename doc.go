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
// A client connects with Dial. Both sides get a *Conn: read and write whole
// messages with Read and Write, or stream them with Reader and Writer; end
// the connection with Close, which performs the closing handshake.
//
// The connection enforces the protocol as RFC 6455 requires: a peer that
// breaks a rule gets a close frame with the matching status code (1002 for
// protocol errors, 1007 for text that is not UTF-8, 1009 for messages above
// the read limit) and then the TCP connection is closed.
package websock
