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
)

// broadcaster is one library's server: it accepts connections on "/" and
// sends a message to every connection it holds.
type broadcaster interface {
	http.Handler
	waitFor(n int, timeout time.Duration) error
	broadcast(msg []byte)
}

func newBroadcaster(lib string, compress bool) broadcaster {
	switch lib {
	case "websock":
		return &websockServer{compress: compress}
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
	opts := &websock.AcceptOptions{}
	if s.compress {
		opts.Extensions = []extension.Extension{&websock.PerMessageDeflate{ServerNoContextTakeover: true, ClientNoContextTakeover: true}}
	}
	c, err := websock.Accept(w, r, opts)
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

func (s *websockServer) broadcast(msg []byte) {
	conns := s.all()
	pm, _ := websock.NewPreparedMessage(websock.TextMessage, msg)
	inParts(conns, func(c *websock.Conn) { c.WritePrepared(context.Background(), pm) })
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

func (s *gorillaServer) broadcast(msg []byte) {
	conns := s.all()
	pm, _ := websocket.NewPreparedMessage(websocket.TextMessage, msg)
	inParts(conns, func(c *websocket.Conn) { c.WritePreparedMessage(pm) })
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
func (s *gwsServer) broadcast(msg []byte) {
	conns := s.all()
	b := gws.NewBroadcaster(gws.OpcodeText, msg)
	for _, c := range conns {
		b.Broadcast(c)
	}
	b.Close()
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
