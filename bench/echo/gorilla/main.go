// Command gorilla is the benchmark echo server on gorilla/websocket.
package main

import (
	"net/http"

	"github.com/gorilla/websocket"
	"github.com/websock/websock/bench/internal/server"
)

func main() {
	server.Run(func(cfg server.Config) http.Handler {
		up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }, EnableCompression: cfg.Compress}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer c.Close()
			for {
				typ, msg, err := c.ReadMessage()
				if err != nil {
					return
				}
				if c.WriteMessage(typ, msg) != nil {
					return
				}
			}
		})
	})
}
