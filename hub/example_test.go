package hub_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/websock/websock"
	"github.com/websock/websock/hub"
)

// A chat room: what a client sends goes to every other client of the room.
func ExampleHub() {
	h, _ := hub.New(hub.Options{QueueSize: 64, Policy: hub.CloseTryAgainLater})
	defer h.Close()
	subscribed := make(chan struct{}, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websock.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		sub, err := h.Subscribe(c, strings.TrimPrefix(r.URL.Path, "/"))
		if err != nil {
			return
		}
		subscribed <- struct{}{}
		sub.Relay(r.Context())
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/lobby"
	alice, _, _ := websock.Dial(ctx, url, nil)
	<-subscribed
	bob, _, _ := websock.Dial(ctx, url, nil)
	<-subscribed
	defer alice.CloseNow()
	defer bob.CloseNow()

	alice.Write(ctx, websock.TextMessage, []byte("hi, it's alice"))
	_, msg, _ := bob.Read(ctx)
	fmt.Println("bob got:", string(msg))
	h.Publish("lobby", websock.TextMessage, []byte("the room closes at 6"))
	_, msg, _ = alice.Read(ctx)
	fmt.Println("alice got:", string(msg))
	// Output:
	// bob got: hi, it's alice
	// alice got: the room closes at 6
}
