package websock_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/websock/websock"
	"github.com/websock/websock/extension"
)

// One message, encoded once, written to every connected client.
func ExamplePreparedMessage() {
	var mu sync.Mutex
	var conns []*websock.Conn
	joined := make(chan struct{}, 3)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websock.Accept(w, r, &websock.AcceptOptions{
			Extensions: []extension.Extension{&websock.PerMessageDeflate{ServerNoContextTakeover: true}},
		})
		if err != nil {
			return
		}
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		joined <- struct{}{}
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var clients []*websock.Conn
	for range 3 {
		c, _, err := websock.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &websock.DialOptions{
			Extensions: []extension.Extension{&websock.PerMessageDeflate{}},
		})
		if err != nil {
			fmt.Println(err)
			return
		}
		defer c.CloseNow()
		clients = append(clients, c)
		<-joined
	}

	pm, _ := websock.NewPreparedMessage(websock.TextMessage, []byte(strings.Repeat("news ", 40)))
	mu.Lock()
	for _, c := range conns {
		c.WritePrepared(ctx, pm) // compressed once for all three
		defer c.CloseNow()
	}
	mu.Unlock()
	for _, c := range clients {
		typ, msg, err := c.Read(ctx)
		fmt.Println(typ, len(msg), err)
	}
	// Output:
	// text 200 <nil>
	// text 200 <nil>
	// text 200 <nil>
}
