package main

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/lxzan/gws"
	"github.com/websock/websock"
	"github.com/websock/websock/extension"
	"github.com/websock/websock/hub"
)

// broadcaster is one library's server: it accepts connections on "/" and
// sends a message to every connection it holds.
type broadcaster interface {
	http.Handler
	waitFor(n int, timeout time.Duration) error
	// broadcast sends every message of msgs, in order, to every
	// connection.
	broadcast(msgs [][]byte)
}

func newBroadcaster(lib string, compress bool) broadcaster {
	switch lib {
	case "raw":
		return &rawServer{compress: compress}
	case "websock":
		return &websockServer{compress: compress}
	case "websock-hub":
		h, _ := hub.New(hub.Options{})
		return &websockHubServer{websockServer: websockServer{compress: compress}, hub: h}
	case "gorilla":
		return &gorillaServer{up: websocket.Upgrader{EnableCompression: compress, CheckOrigin: func(*http.Request) bool { return true }}}
	case "gws":
		s := &gwsServer{}
		s.up = gws.NewUpgrader(s, &gws.ServerOption{
			PermessageDeflate: gws.PermessageDeflate{Enabled: compress, ServerContextTakeover: false, ClientContextTakeover: false},
		})
		return s
	}
	return nil
}

// inParts calls send for every element of conns, from one goroutine per
// CPU, each with its share: the way a server spreads a broadcast over its
// cores with a synchronous write call.
func inParts[T any](conns []T, send func(T)) {
	parts := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for p := range parts {
		share := conns[p*len(conns)/parts : (p+1)*len(conns)/parts]
		wg.Go(func() {
			for _, c := range share {
				send(c)
			}
		})
	}
	wg.Wait()
}

type websockServer struct {
	compress bool
	registry[*websock.Conn]
}

func (s *websockServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := s.accept(w, r)
	if err != nil {
		return
	}
	s.add(c)
	go func() {
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				return
			}
		}
	}()
}

func (s *websockServer) accept(w http.ResponseWriter, r *http.Request) (*websock.Conn, error) {
	opts := &websock.AcceptOptions{}
	if s.compress {
		opts.Extensions = []extension.Extension{&websock.PerMessageDeflate{ServerNoContextTakeover: true, ClientNoContextTakeover: true}}
	}
	return websock.Accept(w, r, opts)
}

// broadcast writes all the messages to each connection in one call, which
// sends them together.
func (s *websockServer) broadcast(msgs [][]byte) {
	conns := s.all()
	pms := make([]*websock.PreparedMessage, len(msgs))
	for i, m := range msgs {
		pms[i], _ = websock.NewPreparedMessage(websock.TextMessage, m)
	}
	inParts(conns, func(c *websock.Conn) { c.WritePrepared(context.Background(), pms...) })
}

// websockHubServer subscribes every connection to one topic of a hub and
// publishes the messages there one by one: each subscriber's writer sends
// what has queued up for it when it gets its turn.
type websockHubServer struct {
	websockServer
	hub *hub.Hub
}

func (s *websockHubServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := s.accept(w, r)
	if err != nil {
		return
	}
	sub, err := s.hub.Subscribe(c, "all")
	if err != nil {
		c.CloseNow()
		return
	}
	s.add(c)
	go sub.Relay(context.Background())
}

func (s *websockHubServer) broadcast(msgs [][]byte) {
	for _, m := range msgs {
		s.hub.Publish("all", websock.TextMessage, m)
	}
}

type gorillaServer struct {
	up websocket.Upgrader
	registry[*websocket.Conn]
}

func (s *gorillaServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := s.up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	s.add(c)
	go func() {
		for {
			if _, _, err := c.NextReader(); err != nil {
				return
			}
		}
	}()
}

func (s *gorillaServer) broadcast(msgs [][]byte) {
	conns := s.all()
	pms := make([]*websocket.PreparedMessage, len(msgs))
	for i, m := range msgs {
		pms[i], _ = websocket.NewPreparedMessage(websocket.TextMessage, m)
	}
	inParts(conns, func(c *websocket.Conn) {
		for _, pm := range pms {
			c.WritePreparedMessage(pm)
		}
	})
}

type gwsServer struct {
	gws.BuiltinEventHandler
	up *gws.Upgrader
	registry[*gws.Conn]
}

func (s *gwsServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := s.up.Upgrade(w, r)
	if err != nil {
		return
	}
	s.add(c)
	go c.ReadLoop()
}

func (s *gwsServer) OnMessage(c *gws.Conn, m *gws.Message) { m.Close() }

// broadcast hands the message to each connection's write queue, as gws
// intends; the writes finish asynchronously.
func (s *gwsServer) broadcast(msgs [][]byte) {
	conns := s.all()
	for _, m := range msgs {
		b := gws.NewBroadcaster(gws.OpcodeText, m)
		for _, c := range conns {
			b.Broadcast(c)
		}
		b.Close()
	}
}

// registry holds a server's connections.
type registry[T any] struct {
	mu      sync.Mutex
	conns   []T
	changed chan struct{} // closed and replaced at each addition
}

func (r *registry[T]) add(c T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.conns = append(r.conns, c)
	if r.changed != nil {
		close(r.changed)
	}
	r.changed = make(chan struct{})
}

func (r *registry[T]) all() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conns
}

// waitFor waits until n connections were added, or fails after timeout.
func (r *registry[T]) waitFor(n int, timeout time.Duration) error {
	expired := time.After(timeout)
	for {
		r.mu.Lock()
		have := len(r.conns)
		if r.changed == nil {
			r.changed = make(chan struct{})
		}
		changed := r.changed
		r.mu.Unlock()
		if have >= n {
			return nil
		}
		select {
		case <-changed:
		case <-expired:
			return fmt.Errorf("%d of %d connections after %v", have, n, timeout)
		}
	}
}
