// Command coder is coder/websocket's chat example ported to websock, the
// way a coder user would port it: the calls keep their names and
// contexts (Accept, Read, Write, Close, CloseNow), and the CloseRead
// goroutine becomes a read loop of one's own, which here also takes the
// messages clients send. See MIGRATING.md.
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net/http"
	"sync"
	"time"

	"github.com/websock/websock"
)

// chatServer enables broadcasting to a set of subscribers.
type chatServer struct {
	// subscriberMessageBuffer controls the max number of messages that
	// can be queued for a subscriber before it is kicked.
	subscriberMessageBuffer int

	subscribersMu sync.Mutex
	subscribers   map[*subscriber]struct{}
}

// subscriber represents a subscriber. Messages are sent on the msgs
// channel and if the client cannot keep up with the messages, closeSlow
// is called.
type subscriber struct {
	msgs      chan []byte
	closeSlow func()
}

func newChatServer() *chatServer {
	return &chatServer{subscriberMessageBuffer: 16, subscribers: make(map[*subscriber]struct{})}
}

// ServeHTTP accepts the WebSocket connection and subscribes it to all
// future messages.
func (cs *chatServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	err := cs.subscribe(w, r)
	if errors.Is(err, context.Canceled) || websock.IsCloseError(err, websock.StatusNormalClosure, websock.StatusGoingAway) {
		return
	}
	if err != nil {
		log.Printf("chat: %v", err)
	}
}

// subscribe subscribes the connection to all messages until it ends, and
// publishes what it sends.
func (cs *chatServer) subscribe(w http.ResponseWriter, r *http.Request) error {
	c, err := websock.Accept(w, r, nil)
	if err != nil {
		return err
	}
	defer c.CloseNow()
	s := &subscriber{
		msgs: make(chan []byte, cs.subscriberMessageBuffer),
		closeSlow: func() {
			go c.Close(websock.StatusPolicyViolation, "connection too slow to keep up with messages")
		},
	}
	cs.addSubscriber(s)
	defer cs.publish([]byte("left"))
	defer cs.deleteSubscriber(s)
	cs.publish([]byte("joined"))

	// c.CloseRead(ctx) in coder: here the read loop also publishes.
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	go func() {
		for {
			_, msg, err := c.Read(ctx)
			if err != nil {
				cancel(err)
				return
			}
			cs.publish(msg)
		}
	}()

	for {
		select {
		case msg := <-s.msgs:
			if err := writeTimeout(ctx, 5*time.Second, c, msg); err != nil {
				return err
			}
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// publish publishes msg to all subscribers, kicking those too slow.
func (cs *chatServer) publish(msg []byte) {
	cs.subscribersMu.Lock()
	defer cs.subscribersMu.Unlock()
	for s := range cs.subscribers {
		select {
		case s.msgs <- msg:
		default:
			s.closeSlow()
		}
	}
}

func (cs *chatServer) addSubscriber(s *subscriber) {
	cs.subscribersMu.Lock()
	cs.subscribers[s] = struct{}{}
	cs.subscribersMu.Unlock()
}

func (cs *chatServer) deleteSubscriber(s *subscriber) {
	cs.subscribersMu.Lock()
	delete(cs.subscribers, s)
	cs.subscribersMu.Unlock()
}

func writeTimeout(ctx context.Context, timeout time.Duration, c *websock.Conn, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return c.Write(ctx, websock.TextMessage, msg)
}

func newHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/subscribe", newChatServer())
	return mux
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "http service address")
	flag.Parse()
	server := &http.Server{Addr: *addr, Handler: newHandler(), ReadHeaderTimeout: 3 * time.Second}
	log.Fatal(server.ListenAndServe())
}
