// Command coder is the benchmark echo server on coder/websocket.
package main

import (
	"context"
	"net/http"

	"github.com/coder/websocket"
	"github.com/websock/websock/bench/internal/server"
)

func main() {
	server.Run(func(cfg server.Config) http.Handler {
		mode := websocket.CompressionDisabled
		if cfg.Compress {
			mode = websocket.CompressionNoContextTakeover
			if cfg.Takeover {
				mode = websocket.CompressionContextTakeover
			}
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true, CompressionMode: mode})
			if err != nil {
				return
			}
			defer c.CloseNow()
			c.SetReadLimit(64 << 20)
			ctx := context.Background()
			for {
				typ, msg, err := c.Read(ctx)
				if err != nil {
					return
				}
				if c.Write(ctx, typ, msg) != nil {
					return
				}
			}
		})
	})
}
