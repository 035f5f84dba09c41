// Command gorilla is gorilla/websocket's chat example (a hub goroutine,
// a read pump and a write pump per client) ported to websock, the way a
// gorilla user would port it: Upgrader becomes AcceptOptions, ReadMessage
// and WriteMessage become Read and Write, and the ping ticker, pong
// handler and deadlines become options the connection keeps by itself.
// See MIGRATING.md.
package main

import (
	"context"
	"flag"
	"log"
	"net/http"
	"time"

	"github.com/websock/websock"
)

// What gorilla's example sets by hand on every connection.
var acceptOptions = &websock.AcceptOptions{
	ConnOptions: websock.ConnOptions{
		ReadLimit:    512,              // conn.SetReadLimit(maxMessageSize)
		WriteTimeout: 10 * time.Second, // conn.SetWriteDeadline(time.Now().Add(writeWait))
		PingInterval: 54 * time.Second, // the ping ticker of writePump
		PongTimeout:  60 * time.Second, // SetReadDeadline + SetPongHandler
	},
}

// client is a middleman between the connection and the hub.
type client struct {
	hub  *hub
	conn *websock.Conn
	send chan []byte // buffered channel of outbound messages
}

// readPump pumps messages from the connection to the hub.
func (c *client) readPump() {
	defer func() { c.hub.unregister <- c }()
	ctx := context.Background() // the request's context ends with the handler
	for {
		_, message, err := c.conn.Read(ctx)
		if err != nil {
			if websock.IsUnexpectedCloseError(err, websock.StatusNormalClosure, websock.StatusGoingAway, websock.StatusAbnormalClosure) {
				log.Printf("error: %v", err)
			}
			return
		}
		c.hub.broadcast <- message
	}
}

// writePump pumps messages from the hub to the connection. Keepalive pings
// are the connection's own business (PingInterval).
func (c *client) writePump() {
	defer c.conn.CloseNow()
	ctx := context.Background()
	for message := range c.send {
		if err := c.conn.Write(ctx, websock.TextMessage, message); err != nil {
			return
		}
	}
	// The hub closed the channel.
	c.conn.Close(websock.StatusNormalClosure, "")
}

// hub maintains the set of active clients and broadcasts messages to them.
type hub struct {
	clients    map[*client]bool
	broadcast  chan []byte
	register   chan *client
	unregister chan *client
}

func newHub() *hub {
	return &hub{
		clients:    make(map[*client]bool),
		broadcast:  make(chan []byte),
		register:   make(chan *client),
		unregister: make(chan *client),
	}
}

func (h *hub) run() {
	for {
		select {
		case c := <-h.register:
			h.clients[c] = true
			h.deliver([]byte("joined"))
		case c := <-h.unregister:
			if h.clients[c] {
				delete(h.clients, c)
				close(c.send)
				h.deliver([]byte("left"))
			}
		case message := <-h.broadcast:
			h.deliver(message)
		}
	}
}

// deliver queues message for every client, dropping those that cannot
// keep up.
func (h *hub) deliver(message []byte) {
	for c := range h.clients {
		select {
		case c.send <- message:
		default:
			close(c.send)
			delete(h.clients, c)
		}
	}
}

// serveWs handles websocket requests from the peer.
func serveWs(h *hub, w http.ResponseWriter, r *http.Request) {
	conn, err := websock.Accept(w, r, acceptOptions) // upgrader.Upgrade(w, r, nil)
	if err != nil {
		log.Println(err)
		return
	}
	c := &client{hub: h, conn: conn, send: make(chan []byte, 256)}
	h.register <- c
	go c.writePump()
	go c.readPump()
}

func newHandler() http.Handler {
	h := newHub()
	go h.run()
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) { serveWs(h, w, r) })
	return mux
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "http service address")
	flag.Parse()
	server := &http.Server{Addr: *addr, Handler: newHandler(), ReadHeaderTimeout: 3 * time.Second}
	log.Fatal(server.ListenAndServe())
}
