package websock_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/websock/websock"
)

// A heartbeat that does not wait for its answer, and a server that sees
// why its client left.
func ExampleConn_WritePing() {
	left := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websock.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.OnClose(func(code websock.StatusCode, reason string) {
			left <- fmt.Sprintf("client left: %v (%s)", code, reason)
		})
		for {
			if _, _, err := c.Read(r.Context()); err != nil {
				return
			}
		}
	}))
	defer srv.Close()

	ctx := context.Background()
	c, _, err := websock.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	pongs := make(chan string, 1)
	c.OnPong(func(p []byte) { pongs <- string(p) })
	go c.Read(ctx) // pongs are seen while the connection is read
	fmt.Println(c.WritePing(ctx, []byte("beat")))
	fmt.Println("pong:", <-pongs)
	c.Close(websock.StatusGoingAway, "page closed")
	fmt.Println(<-left)
	// Output:
	// <nil>
	// pong: beat
	// client left: going away (page closed)
}
