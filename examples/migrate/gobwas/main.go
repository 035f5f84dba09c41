// Command gobwas is a chat server written the way gobwas/ws programs are
// (a net.Listener of one's own, ws.Upgrade on each raw connection,
// wsutil.ReadClientData and wsutil.WriteServerMessage in a loop), ported
// to websock: ws.Upgrade becomes websock.AcceptConn, with the same checks
// as an HTTP server's upgrade, and the wsutil calls become Read and Write,
// which answer pings and close frames by themselves. See MIGRATING.md.
package main

import (
	"context"
	"flag"
	"log"
	"net"
	"sync"
	"time"

	"github.com/websock/websock"
)

var acceptOptions = &websock.AcceptOptions{
	HandshakeTimeout: 5 * time.Second, // gobwas leaves the handshake unbounded unless conn deadlines are set
	ConnOptions: websock.ConnOptions{
		ReadLimit:    4 << 10,          // wsutil.Reader{MaxFrameSize}: here the whole message
		WriteTimeout: 5 * time.Second,  // conn.SetWriteDeadline around each write
		IdleTimeout:  10 * time.Minute, // conn.SetReadDeadline before each read
	},
}

// room is the set of connections that receive every message.
type room struct {
	mu    sync.Mutex
	users map[*websock.Conn]struct{}
}

// broadcast sends message to everyone in the room.
func (r *room) broadcast(ctx context.Context, message []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for c := range r.users {
		c.Write(ctx, websock.TextMessage, message) // wsutil.WriteServerMessage(conn, ws.OpText, message)
	}
}

func (r *room) join(ctx context.Context, c *websock.Conn) {
	r.mu.Lock()
	r.users[c] = struct{}{}
	r.mu.Unlock()
	r.broadcast(ctx, []byte("joined"))
}

func (r *room) leave(ctx context.Context, c *websock.Conn) {
	r.mu.Lock()
	delete(r.users, c)
	r.mu.Unlock()
	r.broadcast(ctx, []byte("left"))
}

// handle runs one raw connection: ws.Upgrade(conn), then the read loop.
func (r *room) handle(conn net.Conn) {
	c, _, err := websock.AcceptConn(conn, acceptOptions)
	if err != nil {
		log.Printf("upgrade: %v", err) // AcceptConn answered the client and closed conn
		return
	}
	defer c.CloseNow()
	ctx := context.Background()
	r.join(ctx, c)
	defer r.leave(ctx, c)
	for {
		// wsutil.ReadClientData(conn): control frames are handled inside.
		typ, message, err := c.Read(ctx)
		if err != nil {
			if websock.IsUnexpectedCloseError(err, websock.StatusNormalClosure, websock.StatusGoingAway) {
				log.Printf("read: %v", err)
			}
			return
		}
		if typ == websock.TextMessage {
			r.broadcast(ctx, message)
		}
	}
}

// serve accepts connections from ln until it is closed.
func serve(ln net.Listener) error {
	r := &room{users: make(map[*websock.Conn]struct{})}
	for {
		conn, err := ln.Accept()
		if err != nil {
			return err
		}
		go r.handle(conn)
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(serve(ln))
}
