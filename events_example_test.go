package websock_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/websock/websock"
)

// An echo server whose connections hold no goroutine while they wait: the
// poller reads them and calls OnMessage with each whole message.
func ExampleEventHandler() {
	ended := make(chan error, 1)
	srv := httptest.NewServer(websock.EventHandler(nil, websock.Events{
		OnOpen: func(c *websock.Conn, r *http.Request) {
			c.Write(context.Background(), websock.TextMessage, []byte("welcome"))
		},
		OnMessage: func(c *websock.Conn, typ websock.MessageType, data []byte) {
			c.Write(context.Background(), typ, data) // data is valid until OnMessage returns
		},
		OnEnd: func(c *websock.Conn, err error) {
			c.CloseNow()
			ended <- err
		},
	}))
	defer srv.Close()

	ctx := context.Background()
	c, _, err := websock.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	_, msg, _ := c.Read(ctx)
	fmt.Println(string(msg))
	c.Write(ctx, websock.TextMessage, []byte("hello"))
	_, msg, _ = c.Read(ctx)
	fmt.Println(string(msg))
	c.Close(websock.StatusNormalClosure, "bye")
	fmt.Println(<-ended)
	// Output:
	// welcome
	// hello
	// websock: closed by peer with status 1000: bye
}
