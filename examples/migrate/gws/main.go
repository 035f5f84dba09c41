// Command gws is a chat server written the way lxzan/gws programs are
// (an event handler with OnOpen, OnMessage and OnClose, a session map, a
// read loop per connection), ported to websock: the upgrader becomes
// websock.Handler, ReadLoop a loop of Read calls that feeds the handler,
// and the deadlines that OnPing renews become the connection's keepalive
// options. See MIGRATING.md.
package main

import (
	"context"
	"flag"
	"log"
	"net/http"
	"sync"
	"time"

	"github.com/websock/websock"
	"github.com/websock/websock/extension"
)

// What gws users set in ServerOption and renew with SetDeadline.
var acceptOptions = &websock.AcceptOptions{
	ConnOptions: websock.ConnOptions{
		ReadLimit:    64 << 10,         // ServerOption.ReadMaxPayloadSize
		WriteTimeout: 5 * time.Second,  // a broadcast cannot hang on a stuck peer
		PingInterval: 30 * time.Second, // instead of SetDeadline in OnOpen and OnPing
		PongTimeout:  10 * time.Second,
	},
	Extensions: []extension.Extension{&websock.PerMessageDeflate{}}, // PermessageDeflate.Enabled
}

// handler handles the events of every connection, as a gws.Event does.
type handler struct {
	mu       sync.Mutex // with sessions: gws.ConcurrentMap
	sessions map[*websock.Conn]struct{}
}

func (h *handler) OnOpen(ctx context.Context, socket *websock.Conn) {
	h.mu.Lock()
	h.sessions[socket] = struct{}{}
	h.mu.Unlock()
	h.broadcast(ctx, websock.TextMessage, []byte("joined"))
}

func (h *handler) OnClose(ctx context.Context, socket *websock.Conn, err error) {
	h.mu.Lock()
	delete(h.sessions, socket)
	h.mu.Unlock()
	if websock.IsUnexpectedCloseError(err, websock.StatusNormalClosure, websock.StatusGoingAway) {
		log.Printf("chat: %v", err)
	}
	h.broadcast(ctx, websock.TextMessage, []byte("left"))
}

func (h *handler) OnMessage(ctx context.Context, socket *websock.Conn, typ websock.MessageType, message []byte) {
	h.broadcast(ctx, typ, message)
}

// broadcast writes the message to the sessions open when it is called:
// gws's Broadcaster. Writes are safe from any goroutine; WriteTimeout
// bounds a stuck peer.
func (h *handler) broadcast(ctx context.Context, typ websock.MessageType, message []byte) {
	h.mu.Lock()
	to := make([]*websock.Conn, 0, len(h.sessions))
	for c := range h.sessions {
		to = append(to, c)
	}
	h.mu.Unlock()
	for _, c := range to {
		c.Write(ctx, typ, message)
	}
}

// readLoop is gws's socket.ReadLoop: it calls the handler for each event
// until the connection ends.
func (h *handler) readLoop(ctx context.Context, socket *websock.Conn, _ *http.Request) {
	h.OnOpen(ctx, socket)
	var buf []byte // reused: ReadAppend reads without allocating
	for {
		typ, message, err := socket.ReadAppend(ctx, buf[:0])
		if err != nil {
			h.OnClose(ctx, socket, err)
			return
		}
		h.OnMessage(ctx, socket, typ, message)
		if cap(message) <= 4<<10 {
			buf = message // keep small buffers only: an idle connection holds it
		}
	}
}

func newHandler() http.Handler {
	h := &handler{sessions: make(map[*websock.Conn]struct{})}
	mux := http.NewServeMux()
	// upgrader.Upgrade(w, r) and go socket.ReadLoop(): websock.Handler
	// runs the loop in a goroutine of its own, after the HTTP handler
	// has returned.
	mux.Handle("/connect", websock.Handler(acceptOptions, h.readLoop))
	return mux
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "http service address")
	flag.Parse()
	server := &http.Server{Addr: *addr, Handler: newHandler(), ReadHeaderTimeout: 3 * time.Second}
	log.Fatal(server.ListenAndServe())
}
