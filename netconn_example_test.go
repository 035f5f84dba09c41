package websock_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/websock/websock"
)

// A line protocol spoken over WebSocket messages: the server reads lines
// from a stream that spans messages and answers each.
func ExampleNetConn() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websock.Accept(w, r, nil)
		if err != nil {
			return
		}
		nc := websock.NetConn(context.Background(), c, websock.TextMessage)
		defer nc.Close()
		lines := bufio.NewScanner(nc)
		for lines.Scan() {
			fmt.Fprintf(nc, "got %q\n", lines.Text())
		}
	}))
	defer srv.Close()

	ctx := context.Background()
	c, _, err := websock.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.CloseNow()
	c.Write(ctx, websock.TextMessage, []byte("hel"))
	c.Write(ctx, websock.TextMessage, []byte("lo\nwor"))
	c.Write(ctx, websock.TextMessage, []byte("ld\n"))
	for range 2 {
		_, msg, _ := c.Read(ctx)
		fmt.Print(string(msg))
	}
	// Output:
	// got "hello"
	// got "world"
}
