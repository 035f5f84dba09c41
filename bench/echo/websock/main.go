// Command websock is the benchmark echo server on websock: a handler per
// connection (websock.Handler), or with -events the event-driven engine
// (websock.EventHandler).
package main

import (
	"context"
	"net/http"

	"github.com/websock/websock"
	"github.com/websock/websock/bench/internal/server"
	"github.com/websock/websock/extension"
)

func main() {
	server.Run(func(cfg server.Config) http.Handler {
		opts := &websock.AcceptOptions{InsecureSkipOriginCheck: true}
		if cfg.Compress {
			noTakeover := !cfg.Takeover
			opts.Extensions = []extension.Extension{&websock.PerMessageDeflate{ServerNoContextTakeover: noTakeover, ClientNoContextTakeover: noTakeover}}
		}
		if cfg.Events {
			return websock.EventHandler(opts, websock.Events{
				OnMessage: func(c *websock.Conn, typ websock.MessageType, data []byte) {
					if c.Write(context.Background(), typ, data) != nil {
						c.CloseNow()
					}
				},
			})
		}
		return websock.Handler(opts, func(ctx context.Context, c *websock.Conn, r *http.Request) {
			var buf []byte
			for {
				typ, msg, err := c.ReadAppend(ctx, buf[:0])
				if err != nil {
					return
				}
				if c.Write(ctx, typ, msg) != nil {
					return
				}
				buf = msg
			}
		})
	})
}
