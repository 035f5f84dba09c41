package websock_test

import (
	"context"
	"fmt"
	"net"

	"github.com/websock/websock"
)

// A server without net/http: it accepts TCP connections itself and
// upgrades each with AcceptConn; the client opens TCP itself too and runs
// the handshake over it with NewClient.
func ExampleAcceptConn() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ln.Close()
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				c, r, err := websock.AcceptConn(nc, nil)
				if err != nil {
					return // AcceptConn has answered and closed nc
				}
				defer c.CloseNow()
				ctx := context.Background()
				_, msg, err := c.Read(ctx)
				if err == nil {
					c.Write(ctx, websock.TextMessage, []byte(r.URL.Path+": "+string(msg)))
				}
				c.Close(websock.StatusNormalClosure, "")
			}()
		}
	}()

	ctx := context.Background()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	c, _, err := websock.NewClient(ctx, nc, "ws://"+ln.Addr().String()+"/echo", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.CloseNow()
	c.Write(ctx, websock.TextMessage, []byte("hello"))
	_, msg, _ := c.Read(ctx)
	fmt.Println(string(msg))
	// Output: /echo: hello
}
